import { useState } from 'preact/hooks';
import { get, qs } from '../api.ts';
import { Badge, Empty, html, Link, Section, short, Time, useLoad } from '../ui.ts';
import type { Agent, AgentDetail, AgentEvent, Page } from '../types.ts';
import { EventsTable } from './events.ts';

export const agentStatus = (a: Agent) => (a.revokedAt ? 'revoked' : a.online ? 'online' : 'offline');

export function AgentsPage() {
  const [status, setStatus] = useState('');
  const [group, setGroup] = useState('');
  const [os, setOs] = useState('');
  const [pages, setPages] = useState(1);
  const load = useLoad(
    async (signal) => {
      const items: Agent[] = [];
      let after: string | null = null;
      for (let i = 0; i < pages; i++) {
        const p: Page<Agent> = await get<Page<Agent>>(`/agents${qs({ status, group, os, after, limit: 100 })}`, signal);
        items.push(...p.items);
        after = p.nextCursor;
        if (!after) break;
      }
      return { items, more: after !== null };
    },
    [status, group, os, pages],
    { everyMs: 5000 },
  );
  const filters = html`<div class="filters">
    <select aria-label="status" value=${status} onChange=${(e: Event) => setStatus((e.target as HTMLSelectElement).value)}>
      <option value="">any status</option><option value="online">online</option><option value="offline">offline</option><option value="revoked">revoked</option>
    </select>
    <select aria-label="os" value=${os} onChange=${(e: Event) => setOs((e.target as HTMLSelectElement).value)}>
      <option value="">any OS</option><option value="linux">linux</option><option value="windows">windows</option>
    </select>
    <input aria-label="group" placeholder="group" value=${group} onChange=${(e: Event) => setGroup((e.target as HTMLInputElement).value.trim())} />
  </div>`;
  return html`<div class="page">
    <h1>Agents</h1>
    <${Section} title="Fleet" what="agents" load=${load} actions=${filters}>
      ${(d: { items: Agent[]; more: boolean }) =>
        d.items.length === 0
          ? html`<${Empty}>No agents${status || group || os ? ' match these filters' : ' yet: create an enrollment token and run suture-agent enroll on an endpoint'}.<//>`
          : html`<table class="agents">
              <thead><tr><th>Host</th><th>Status</th><th>Group</th><th>OS</th><th>Version</th><th>Last seen</th><th>Enrolled</th></tr></thead>
              <tbody>
                ${d.items.map(
                  (a) => html`<tr key=${a.id} data-agent=${a.id}>
                    <td><${Link} href=${`/agents/${a.id}`}>${a.hostname}<//> <span class="muted mono">${short(a.id)}</span></td>
                    <td><${Badge} value=${agentStatus(a)} /></td>
                    <td>${a.group}</td>
                    <td>${a.os}/${a.arch}</td>
                    <td>${a.version}</td>
                    <td><${Time} at=${a.lastSeenAt} /></td>
                    <td><${Time} at=${a.enrolledAt} /></td>
                  </tr>`,
                )}
              </tbody>
            </table>
            ${d.more ? html`<button class="secondary" onClick=${() => setPages(pages + 1)}>Load more</button>` : null}`}
    <//>
  </div>`;
}

const EVENT_PAGES = 10;
const MODULES_SHOWN = 25;

/** The modules an agent's processes load, most used first; long lists are cut and filterable. */
function Modules(props: { modules: AgentDetail['modules'] }) {
  const [filter, setFilter] = useState('');
  const [all, setAll] = useState(false);
  const f = filter.trim().toLowerCase();
  const matching = [...props.modules].filter((m) => !f || m.name.toLowerCase().includes(f) || m.sha256.startsWith(f)).sort((a, b) => b.processes - a.processes || a.name.localeCompare(b.name));
  const shown = all ? matching : matching.slice(0, MODULES_SHOWN);
  return html`<section class="card">
    <header class="card-head"><h2>Loaded modules (${props.modules.length})</h2><div class="actions"><input aria-label="filter modules" placeholder="filter by name or sha256" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} /></div></header>
    ${props.modules.length === 0
      ? html`<${Empty}>The agent has not reported any module yet.<//>`
      : html`<table class="modules">
          <thead><tr><th>Module</th><th>sha256</th><th>Processes</th></tr></thead>
          <tbody>${shown.map((m) => html`<tr key=${m.sha256}><td>${m.name}</td><td class="mono" title=${m.sha256}>${short(m.sha256, 16)}</td><td class="num">${m.processes}</td></tr>`)}</tbody>
        </table>
        ${matching.length > shown.length ? html`<button class="small secondary" onClick=${() => setAll(true)}>Show all ${matching.length}</button>` : null}`}
  </section>`;
}

export function AgentPage(props: { id: string }) {
  const detail = useLoad((s) => get<AgentDetail>(`/agents/${encodeURIComponent(props.id)}`, s), [props.id], { everyMs: 5000 });
  const events = useLoad(
    async (signal) => {
      // Oldest first on the server: read forward (capped) and show the newest.
      let all: AgentEvent[] = [];
      let after: string | null = null;
      for (let i = 0; i < EVENT_PAGES; i++) {
        const p: Page<AgentEvent> = await get<Page<AgentEvent>>(`/agents/${encodeURIComponent(props.id)}/events${qs({ after, limit: 500 })}`, signal);
        all = [...all, ...p.items].slice(-200);
        after = p.nextCursor;
        if (!after) break;
      }
      return all.reverse();
    },
    [props.id],
    { everyMs: 5000 },
  );
  return html`<div class="page">
    <p class="crumbs"><${Link} href="/agents">Agents<//> /</p>
    <${Section} what="the agent" load=${detail}>
      ${(d: AgentDetail) => html`<div>
        <h1>${d.agent.hostname} <${Badge} value=${agentStatus(d.agent)} /></h1>
        <dl class="facts">
          <dt>ID</dt><dd class="mono">${d.agent.id}</dd>
          <dt>Group</dt><dd>${d.agent.group}</dd>
          <dt>Platform</dt><dd>${d.agent.os}/${d.agent.arch}, agent ${d.agent.version}</dd>
          <dt>Tags</dt><dd>${d.agent.tags.length ? d.agent.tags.join(', ') : '—'}</dd>
          <dt>Last seen</dt><dd><${Time} at=${d.agent.lastSeenAt} /></dd>
          <dt>Connected</dt><dd><${Time} at=${d.agent.connectedAt} />${d.agent.disconnectedAt ? html` (disconnected <${Time} at=${d.agent.disconnectedAt} />)` : null}</dd>
          <dt>Enrolled</dt><dd><${Time} at=${d.agent.enrolledAt} /></dd>
        </dl>
      </div>`}
    <//>
    ${detail.data
      ? html`<${Section} title="Patches on this agent" what="patches" load=${detail}>
            ${(d: AgentDetail) =>
              d.patches.length === 0
                ? html`<${Empty}>No enabled patch concerns this agent.<//>`
                : html`<table class="agent-patches">
                    <thead><tr><th>Patch</th><th>Processes loading the module</th><th>Applied</th><th>Refused</th><th>Failed</th><th>Crash guard</th><th>Updated</th></tr></thead>
                    <tbody>
                      ${d.patches.map(
                        (p) => html`<tr key=${p.patchId}>
                          <td><${Link} href=${`/patches/${encodeURIComponent(p.patchId)}`}>${p.patchId}<//></td>
                          <td class="num">${p.matching}</td>
                          <td class="num">${p.applied} ${p.matching > 0 ? html`<${Badge} value=${p.applied === p.matching ? 'applied' : 'vulnerable'} />` : null}</td>
                          <td class="num">${p.refused}</td>
                          <td class="num">${p.failed}</td>
                          <td>${p.stopped ? html`<${Badge} value="stopped" tone="bad" /> ${p.stopped}` : '—'}</td>
                          <td><${Time} at=${p.updatedAt} /></td>
                        </tr>`,
                      )}
                    </tbody>
                  </table>`}
          <//>
          <${Modules} modules=${detail.data.modules} />`
      : null}
    <${Section} title="Events" what="events" load=${events}>
      ${(ev: AgentEvent[]) => html`<${EventsTable} events=${ev} showAgent=${false} empty="This agent has reported no outcome yet." />`}
    <//>
  </div>`;
}
