import { useState } from 'preact/hooks';
import { get, qs } from '../api.ts';
import { Empty, html, Section, Time, useLoad } from '../ui.ts';
import type { AuditEntry, Page } from '../types.ts';

const KEEP = 300;

/** The audit log, newest first: read forward from the start (the server orders by seq), keep the last entries. */
export function AuditPage() {
  const [action, setAction] = useState('');
  const [targetType, setTargetType] = useState('');
  const load = useLoad(
    async (signal) => {
      let all: AuditEntry[] = [];
      let after: string | null = null;
      for (let i = 0; i < 20; i++) {
        const p: Page<AuditEntry> = await get<Page<AuditEntry>>(`/audit${qs({ action, targetType, after, limit: 500 })}`, signal);
        all = [...all, ...p.items].slice(-KEEP);
        after = p.nextCursor;
        if (!after) break;
      }
      return all.reverse();
    },
    [action, targetType],
    { everyMs: 10_000 },
  );
  const filters = html`<div class="filters">
    <input aria-label="action" placeholder="action (e.g. patch.enable)" value=${action} onChange=${(e: Event) => setAction((e.target as HTMLInputElement).value.trim())} />
    <input aria-label="target type" placeholder="target type" value=${targetType} onChange=${(e: Event) => setTargetType((e.target as HTMLInputElement).value.trim())} />
  </div>`;
  return html`<div class="page">
    <h1>Audit log</h1>
    <${Section} title="Every change, newest first" what="the audit log" load=${load} actions=${filters}>
      ${(items: AuditEntry[]) =>
        items.length === 0
          ? html`<${Empty}>No entries${action || targetType ? ' match' : ''}.<//>`
          : html`<table class="audit">
              <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Change</th></tr></thead>
              <tbody>
                ${items.map(
                  (e) => html`<tr key=${e.seq}>
                    <td><${Time} at=${e.at} /></td>
                    <td>${e.actor.name} <span class="muted small">${e.actor.via}</span></td>
                    <td class="mono">${e.action}</td>
                    <td>${e.target.type} <span class="mono">${e.target.id}</span></td>
                    <td><details><summary>details</summary><pre>${JSON.stringify({ before: e.before ?? undefined, after: e.after ?? undefined, requestId: e.requestId, ip: e.ip }, null, 2)}</pre></details></td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    <//>
  </div>`;
}
