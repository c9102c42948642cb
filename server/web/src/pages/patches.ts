import { useState } from 'preact/hooks';
import { api, get, qs, type Session } from '../api.ts';
import { useOperation } from '../live.ts';
import { Badge, Bar, Confirm, Empty, ErrorBox, html, LineChart, Link, Section, short, Time, useLoad } from '../ui.ts';
import type { Coverage, CoveragePoint, Enablement, Group, Page, Patch, Rollout } from '../types.ts';
import { RolloutForm, RolloutsTable } from './rollouts.ts';

export const canPublish = (s: Session) => s.role === 'admin' || s.role === 'operator';

async function allCoverage(signal: AbortSignal, params: Record<string, string | undefined> = {}): Promise<Map<string, Coverage>> {
  const out = new Map<string, Coverage>();
  let after: string | null = null;
  for (let i = 0; i < 20; i++) {
    const p: Page<Coverage> = await get<Page<Coverage>>(`/coverage${qs({ ...params, after, limit: 500 })}`, signal);
    for (const c of p.items) out.set(c.patchId, c);
    after = p.nextCursor;
    if (!after) break;
  }
  return out;
}

export function CoverageCell(props: { c: Coverage | undefined }) {
  const c = props.c;
  if (!c) return html`<span class="muted">—</span>`;
  const concerned = c.applied + c.vulnerable;
  if (concerned === 0) return html`<span class="muted">no agent loads the module</span>`;
  return html`<${Bar} value=${c.applied} total=${concerned} tone=${c.vulnerable ? 'warn' : 'ok'} /><span class="muted small">${c.applied}/${concerned} agents</span>`;
}

export function PatchesPage() {
  const [withdrawn, setWithdrawn] = useState(false);
  const patches = useLoad(
    async (signal) => {
      const items: Patch[] = [];
      let after: string | null = null;
      for (let i = 0; i < 20; i++) {
        const p: Page<Patch> = await get<Page<Patch>>(`/patches${qs({ includeWithdrawn: withdrawn, after, limit: 500 })}`, signal);
        items.push(...p.items);
        after = p.nextCursor;
        if (!after) break;
      }
      return items;
    },
    [withdrawn],
    { everyMs: 10_000 },
  );
  const coverage = useLoad((s) => allCoverage(s), [], { everyMs: 10_000 });
  const actions = html`<label class="check"><input type="checkbox" checked=${withdrawn} onChange=${(e: Event) => setWithdrawn((e.target as HTMLInputElement).checked)} /> include withdrawn</label>`;
  return html`<div class="page">
    <h1>Patches</h1>
    ${coverage.error ? html`<${ErrorBox} error=${coverage.error} what="coverage" retry=${coverage.reload} />` : null}
    <${Section} title="Published patches" what="patches" load=${patches} actions=${actions}>
      ${(items: Patch[]) =>
        items.length === 0
          ? html`<${Empty}>No patches yet: sign one with <code>suture patch sign</code> and publish it with <code>suture patch publish</code>.<//>`
          : html`<table class="patches">
              <thead><tr><th>Patch</th><th>Title</th><th>Severity</th><th>CVEs</th><th>Module</th><th>Coverage</th><th>Published</th></tr></thead>
              <tbody>
                ${items.map(
                  (p) => html`<tr key=${p.id} data-patch=${p.id}>
                    <td><${Link} href=${`/patches/${encodeURIComponent(p.id)}`}>${p.id}<//> ${p.withdrawnAt ? html`<${Badge} value="withdrawn" />` : null}</td>
                    <td>${p.title}</td>
                    <td><${Badge} value=${p.severity} /></td>
                    <td>${p.cves.map((c) => html`<${Link} href=${`/cves/${encodeURIComponent(c)}`} class="cve">${c}<//> `)}</td>
                    <td>${p.moduleName} <span class="mono muted">${short(p.moduleSha256)}</span></td>
                    <td class="coverage"><${CoverageCell} c=${coverage.data?.get(p.id)} /></td>
                    <td><${Time} at=${p.publishedAt} /></td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    <//>
  </div>`;
}

export function PatchPage(props: { id: string; session: Session }) {
  const id = props.id;
  const enc = encodeURIComponent(id);
  const patch = useLoad((s) => get<Patch>(`/patches/${enc}`, s), [id]);
  const coverage = useLoad(async (s) => (await allCoverage(s, { patch: id })).get(id) ?? null, [id], { everyMs: 3000 });
  const history = useLoad((s) => get<Page<CoveragePoint>>(`/coverage/history${qs({ patch: id, since: new Date(Date.now() - 86_400_000).toISOString(), limit: 500 })}`, s), [id], { everyMs: 60_000 });
  const groups = useLoad(async (s) => {
    const [g, e] = await Promise.all([get<{ items: Group[] }>('/groups', s), get<{ items: Enablement[] }>(`/patches/${enc}/groups`, s)]);
    return { groups: g.items, enabled: new Map(e.items.map((x) => [x.group, x])) };
  }, [id]);
  const rollouts = useLoad((s) => get<Page<Rollout>>(`/rollouts${qs({ patchId: id, limit: 50 })}`, s), [id], { everyMs: 3000 });
  const [confirm, setConfirm] = useState(false);
  const [operationId, setOperationId] = useState<string | null>(null);
  const [groupError, setGroupError] = useState<unknown>(undefined);
  const publisher = canPublish(props.session);

  const toggle = async (group: string, on: boolean) => {
    setGroupError(undefined);
    try {
      await api(on ? 'PUT' : 'DELETE', `/patches/${enc}/groups/${encodeURIComponent(group)}`);
      groups.reload();
      coverage.reload();
    } catch (err) {
      setGroupError(err);
    }
  };

  return html`<div class="page">
    <p class="crumbs"><${Link} href="/patches">Patches<//> /</p>
    <${Section} what="the patch" load=${patch}>
      ${(p: Patch) => html`<div>
        <header class="title-row">
          <h1>${p.id} <${Badge} value=${p.severity} /> ${p.withdrawnAt ? html`<${Badge} value="withdrawn" />` : null}</h1>
          ${publisher && !p.withdrawnAt ? html`<button class="danger" onClick=${() => setConfirm(true)}>Unapply now</button>` : null}
        </header>
        <p class="lead">${p.title}</p>
        <dl class="facts">
          <dt>Module</dt><dd>${p.moduleName} <span class="mono">${p.moduleSha256}</span></dd>
          <dt>CVEs</dt><dd>${p.cves.length ? p.cves.map((c) => html`<${Link} href=${`/cves/${encodeURIComponent(c)}`} class="cve">${c}<//> `) : '—'}</dd>
          <dt>Release</dt><dd>${p.release}</dd>
          <dt>Published</dt><dd><${Time} at=${p.publishedAt} /></dd>
          ${p.withdrawnAt ? html`<dt>Withdrawn</dt><dd><${Time} at=${p.withdrawnAt} /></dd>` : null}
        </dl>
      </div>`}
    <//>
    ${operationId ? html`<${UnapplyProgress} id=${operationId} onClose=${() => setOperationId(null)} />` : null}
    ${confirm
      ? html`<${Confirm}
          title=${`Unapply ${id} from the whole fleet?`}
          confirmLabel="Unapply now"
          danger=${true}
          onCancel=${() => setConfirm(false)}
          onConfirm=${async () => {
            const op = await api<{ id: string; targets: number }>('POST', '/operations/unapply', { patchId: id });
            setConfirm(false);
            setOperationId(op.id);
            groups.reload();
          }}
        >
          <p>Every agent removes the patch from every process now, and the patch is disabled in every group (so it is not applied again). Running processes go back to the original, vulnerable code.</p>
        <//>`
      : null}
    <${Section} title="Coverage" what="coverage" load=${coverage}>
      ${(c: Coverage | null) =>
        c
          ? html`<div class="stats compact">
              <div class="stat ok"><div class="stat-value">${c.applied}</div><div class="stat-label">agents applied</div></div>
              <div class="stat ${c.vulnerable ? 'bad' : ''}"><div class="stat-value">${c.vulnerable}</div><div class="stat-label">vulnerable</div></div>
              <div class="stat"><div class="stat-value">${c.notApplicable}</div><div class="stat-label">not applicable</div></div>
              <div class="stat wide"><${CoverageCell} c=${c} /></div>
            </div>`
          : html`<${Empty}>No coverage figures for this patch.<//>`}
    <//>
    <${Section} title="Coverage over the last 24 hours" what="coverage history" load=${history}>
      ${(h: Page<CoveragePoint>) =>
        html`<${LineChart}
          points=${h.items.map((p) => ({ at: p.at, values: { applied: p.applied, vulnerable: p.vulnerable } }))}
          series=${[
            { key: 'applied', label: 'applied', tone: 'ok' },
            { key: 'vulnerable', label: 'vulnerable', tone: 'bad' },
          ]}
        />`}
    <//>
    <${Section} title="Groups" what="groups" load=${groups}>
      ${(d: { groups: Group[]; enabled: Map<string, Enablement> }) => html`<div>
        <${ErrorBox} error=${groupError} />
        ${d.groups.length === 0
          ? html`<${Empty}>No agent groups yet.<//>`
          : html`<table class="groups">
              <thead><tr><th>Group</th><th>Ring</th><th>Agents</th><th>This patch</th>${publisher ? html`<th></th>` : null}</tr></thead>
              <tbody>
                ${d.groups.map((g) => {
                  const e = d.enabled.get(g.name);
                  const state = !e ? 'not enabled' : e.activeFrom ? 'scheduled' : 'enabled';
                  return html`<tr key=${g.name} data-group=${g.name}>
                    <td>${g.name}</td>
                    <td>${g.ring ?? '—'}</td>
                    <td>${g.online}/${g.agents} online</td>
                    <td><${Badge} value=${state} />${e?.activeFrom ? html` from <${Time} at=${e.activeFrom} />` : null}</td>
                    ${publisher ? html`<td class="right">${e ? html`<button class="small secondary" onClick=${() => toggle(g.name, false)}>Disable</button>` : html`<button class="small" onClick=${() => toggle(g.name, true)}>Enable</button>`}</td>` : null}
                  </tr>`;
                })}
              </tbody>
            </table>`}
      </div>`}
    <//>
    <${Section} title="Rollouts" what="rollouts" load=${rollouts}>
      ${(r: Page<Rollout>) => html`<div>
        <${RolloutsTable} rollouts=${r.items} session=${props.session} onChange=${rollouts.reload} showPatch=${false} />
        ${publisher && patch.data && !patch.data.withdrawnAt ? html`<${RolloutForm} patchId=${id} onCreated=${() => (rollouts.reload(), groups.reload())} />` : null}
      </div>`}
    <//>
  </div>`;
}

/** An unapply operation's acknowledgements, live, until every target has answered. */
export function UnapplyProgress(props: { id: string; onClose: () => void }) {
  const { progress, done, error } = useOperation(props.id);
  const answered = progress ? progress.acknowledged + progress.failed : 0;
  return html`<section class="card operation" data-operation=${props.id} data-done=${done ? 'true' : 'false'}>
    <header class="card-head"><h2>Unapplying: operation <span class="mono">${short(props.id)}</span></h2><div class="actions"><button class="small secondary" onClick=${props.onClose}>Close</button></div></header>
    ${progress
      ? html`<div>
          <${Bar} value=${answered} total=${progress.total} tone=${progress.failed ? 'bad' : 'ok'} />
          <p class="op-counts"><strong class="op-ack">${progress.acknowledged}</strong> of ${progress.total} agents acknowledged · ${progress.pending} pending · ${progress.failed} failed ${done ? html`<${Badge} value=${progress.failed ? 'failed' : 'completed'} />` : html`<${Badge} value="running" />`}</p>
          ${progress.total === 0 ? html`<p class="muted">No agent had this patch in scope.</p>` : null}
        </div>`
      : html`<p class="muted">Waiting for the first acknowledgement…</p>`}
    <${ErrorBox} error=${error} what="the operation's progress" />
  </section>`;
}
