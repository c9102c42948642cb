import { get, qs } from '../api.ts';
import { useLiveEvents } from '../live.ts';
import { Badge, ErrorBox, html, LineChart, Section, Stat, useLoad } from '../ui.ts';
import type { CoveragePoint, Overview, Page } from '../types.ts';
import { EventsTable } from './events.ts';

const DAY_MS = 86_400_000;

export function OverviewPage() {
  const overview = useLoad((s) => get<Overview>('/overview', s), [], { everyMs: 10_000 });
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
          <${Stat} label="coverage" value=${coveragePct(o.coverage)} tone="ok" sub=${`${o.coverage.applied} applied · ${o.coverage.vulnerable} vulnerable`} />
          <${Stat} label="vulnerable endpoints" value=${o.vulnerableEndpoints} tone=${o.vulnerableEndpoints ? 'bad' : 'ok'} href="/cves" />
        </div>`
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
