import { Badge, Empty, html, Link, short, Time } from '../ui.ts';
import type { SiemEvent } from '../types.ts';

/** A table of agent events (what happened where), newest first as given. */
export function EventsTable(props: { events: SiemEvent[]; showAgent?: boolean; empty?: string }) {
  if (props.events.length === 0) return html`<${Empty}>${props.empty ?? 'No events yet.'}<//>`;
  return html`<table class="events">
    <thead><tr><th>When</th><th>Event</th>${props.showAgent !== false ? html`<th>Agent</th>` : null}<th>Patch</th><th>PID</th><th>Detail</th></tr></thead>
    <tbody>
      ${props.events.map(
        (e) => html`<tr key=${e.seq} data-seq=${e.seq}>
          <td><${Time} at=${e.at} /></td>
          <td><${Badge} value=${e.type} /></td>
          ${props.showAgent !== false ? html`<td>${e.agentId ? html`<${Link} href=${`/agents/${e.agentId}`}>${e.hostname ?? short(e.agentId)}<//>` : '—'}</td>` : null}
          <td>${e.patchId ? html`<${Link} href=${`/patches/${encodeURIComponent(e.patchId)}`}>${e.patchId}<//>` : '—'}</td>
          <td class="num">${e.pid ?? '—'}</td>
          <td class="detail">${[e.reason, e.detail].filter(Boolean).join(': ') || ''}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
