import { ApiError, get, qs } from '../api.ts';
import { useLiveEvents } from '../live.ts';
import { Badge, ErrorBox, html, LineChart, Section, Stat, useLoad } from '../ui.ts';
import type { Agent, CoveragePoint, Overview, Page, Patch } from '../types.ts';
import { EventsTable } from './events.ts';

const DAY_MS = 86_400_000;

const FALLBACK_PAGES = 10;

async function countAll<T>(path: string, signal: AbortSignal, each: (t: T) => void): Promise<boolean> {
  let after: string | null = null;
  for (let i = 0; i < FALLBACK_PAGES; i++) {
    const p: Page<T> = await get<Page<T>>(`${path}${path.includes('?') ? '&' : '?'}${qs({ after, limit: 500 }).slice(1)}`, signal);
    p.items.forEach(each);
    after = p.nextCursor;
    if (!after) return true;
  }
  return false;
}

/** What the page shows: the overview, or what a server without one lets it count. */
type Shown = Omit<Overview, 'coverageSampleSeconds'> & { coverageSampleSeconds?: number; fallback?: true; partial?: boolean };

/**
 * A server without the SIEM read API has no /overview: count agents and patches from their
 * lists instead, so the fleet's state still shows (coverage and events need that API).
 */
async function fallbackOverview(signal: AbortSignal): Promise<Shown> {
  const agents = { total: 0, online: 0, offline: 0, revoked: 0 };
  const patches = { published: 0, withdrawn: 0 };
  const [a, p] = await Promise.all([
    countAll<Agent>('/agents', signal, (x) => (agents.total++, x.revokedAt ? agents.revoked++ : x.online ? agents.online++ : agents.offline++)),
    countAll<Patch>('/patches?includeWithdrawn=true', signal, (x) => (x.withdrawnAt ? patches.withdrawn++ : patches.published++)),
  ]);
  return { agents, patches, coverage: { applied: 0, vulnerable: 0, notApplicable: 0 }, vulnerableEndpoints: 0, recentEvents: [], partial: !a || !p, fallback: true };
}

export function OverviewPage() {
  const overview = useLoad<Shown>(
    async (s) => {
      try {
        return await get<Overview>('/overview', s);
      } catch (err) {
        if (err instanceof ApiError && err.missingEndpoint) return fallbackOverview(s);
        throw err;
      }
    },
    [],
    { everyMs: 10_000 },
  );
  const history = useLoad((s) => get<Page<CoveragePoint>>(`/coverage/history${qs({ since: new Date(Date.now() - DAY_MS).toISOString(), limit: 500 })}`, s), [], { everyMs: 60_000 });
  const live = useLiveEvents({ initial: overview.data?.recentEvents ?? (overview.error ? [] : undefined), keep: 30 });
  const o = overview.data;
  return html`<div class="page">
    <h1>Overview</h1>
    <${ErrorBox} error=${overview.error} what="the overview" retry=${overview.reload} />
    ${o
      ? html`<div class="stats">
          <${Stat} label="agents online" value=${o.agents.online} tone="ok" sub=${`of ${o.agents.total}`} href="/agents" />
          <${Stat} label="agents offline" value=${o.agents.offline} tone=${o.agents.offline ? 'warn' : ''} sub=${o.agents.revoked ? `${o.agents.revoked} revoked` : ''} href="/agents" />
          <${Stat} label="patches published" value=${o.patches.published} sub=${o.patches.withdrawn ? `${o.patches.withdrawn} withdrawn` : ''} href="/patches" />
          ${o.fallback
            ? null
            : html`<${Stat} label="coverage" value=${coveragePct(o.coverage)} tone=${o.coverage.vulnerable ? 'bad' : 'ok'} sub=${`${o.coverage.applied} applied · ${o.coverage.vulnerable} vulnerable`} />
                <${Stat} label="vulnerable endpoints" value=${o.vulnerableEndpoints} tone=${o.vulnerableEndpoints ? 'bad' : 'ok'} href="/cves" />`}
        </div>
        ${o.fallback
          ? html`<p class="notice fallback">This server has no overview API (GET /api/v1/overview): agents and patches are counted from their lists${o.partial ? ' (the first pages only)' : ''}; coverage, vulnerable endpoints and events need a server with the SIEM read API.</p>`
          : null}`
      : overview.loading && !overview.error
        ? html`<p class="muted">Loading the overview…</p>`
        : null}
    <${Section} title="Coverage over the last 24 hours" what="coverage history" load=${history}>
      ${(h: Page<CoveragePoint>) =>
        html`<${LineChart}
          points=${h.items.filter((p) => p.patchId === null || p.patchId === undefined).map((p) => ({ at: p.at, values: { applied: p.applied, vulnerable: p.vulnerable } }))}
          series=${[
            { key: 'applied', label: 'applied', tone: 'ok' },
            { key: 'vulnerable', label: 'vulnerable', tone: 'bad' },
          ]}
          empty=${o?.coverageSampleSeconds ? `No samples yet: the server records coverage every ${every(o.coverageSampleSeconds)}.` : undefined}
        />`}
    <//>
    <section class="card">
      <header class="card-head"><h2>Recent events</h2><div class="actions"><span class="live" data-status=${live.status}><${Badge} value=${live.status} tone=${live.status === 'live' ? 'ok' : live.status === 'unavailable' ? 'bad' : 'warn'} /></span></div></header>
      ${live.status !== 'live' && live.error ? html`<${ErrorBox} error=${live.error} what="live events" />` : null}
      <${EventsTable} events=${live.events} empty="No events yet: agents report here when they apply, refuse or remove a patch." />
    </section>
  </div>`;
}

function coveragePct(c: Overview['coverage']): string {
  const n = c.applied + c.vulnerable;
  return n === 0 ? '—' : `${Math.round((c.applied / n) * 100)}%`;
}

/** A sampling period in words: "5 minutes", "90 seconds", "hour". */
function every(seconds: number): string {
  const [n, unit] = seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : seconds % 60 === 0 ? [seconds / 60, 'minute'] : [seconds, 'second'];
  return n === 1 ? unit : `${n} ${unit}s`;
}
