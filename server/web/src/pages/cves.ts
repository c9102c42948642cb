import { useEffect, useState } from 'preact/hooks';
import { get, qs } from '../api.ts';
import { Badge, Empty, html, Link, navigate, Section, short, useLoad } from '../ui.ts';
import type { Coverage, Page, VulnerableEndpoint } from '../types.ts';

const CVE = /^CVE-\d{4}-\d{4,}$/i;

/** Endpoints still exposed to a CVE (a module that a patch for it fixes, not protected); without a CVE: a picker from the patches' CVEs. */
export function CvePage(props: { cve: string | null }) {
  const [input, setInput] = useState(props.cve ?? '');
  useEffect(() => setInput(props.cve ?? ''), [props.cve]);
  const go = (e: Event) => {
    e.preventDefault();
    const c = input.trim().toUpperCase();
    if (CVE.test(c)) navigate(`/cves/${encodeURIComponent(c)}`);
  };
  const search = html`<form class="filters" onSubmit=${go}>
    <input aria-label="CVE" name="cve" placeholder="CVE-2026-40001" pattern="[Cc][Vv][Ee]-[0-9]{4}-[0-9]{4,}" value=${input} onInput=${(e: Event) => setInput((e.target as HTMLInputElement).value)} />
    <button class="small" type="submit">Show</button>
  </form>`;
  return html`<div class="page">
    <h1>${props.cve ?? 'CVEs'}</h1>
    ${props.cve ? html`<${Vulnerable} cve=${props.cve} actions=${search} />` : html`<${Known} actions=${search} />`}
  </div>`;
}

function Known(props: { actions: unknown }) {
  const load = useLoad((s) => get<Page<Coverage>>('/coverage?limit=500', s), []);
  return html`<${Section} title="CVEs that published patches fix" what="coverage" load=${load} actions=${props.actions}>
    ${(p: Page<Coverage>) => {
      const byCve = new Map<string, { vulnerable: number; patches: string[] }>();
      for (const c of p.items.filter((c) => c.status === 'published'))
        for (const cve of c.cves) {
          const e = byCve.get(cve) ?? { vulnerable: 0, patches: [] };
          e.vulnerable += c.vulnerable;
          e.patches.push(c.patchId);
          byCve.set(cve, e);
        }
      const rows = [...byCve].sort((a, b) => b[1].vulnerable - a[1].vulnerable || a[0].localeCompare(b[0]));
      return rows.length === 0
        ? html`<${Empty}>No published patch names a CVE.<//>`
        : html`<table><thead><tr><th>CVE</th><th>Patches</th><th>Vulnerable agents</th></tr></thead>
            <tbody>${rows.map(([cve, e]) => html`<tr key=${cve}><td><${Link} href=${`/cves/${encodeURIComponent(cve)}`}>${cve}<//></td><td>${e.patches.join(', ')}</td><td class="num">${e.vulnerable ? html`<${Badge} value=${String(e.vulnerable)} tone="bad" />` : html`<${Badge} value="0" tone="ok" />`}</td></tr>`)}</tbody></table>`;
    }}
  <//>`;
}

function Vulnerable(props: { cve: string; actions: unknown }) {
  const load = useLoad(
    async (signal) => {
      const items: VulnerableEndpoint[] = [];
      let after: string | null = null;
      for (let i = 0; i < 20; i++) {
        const p: Page<VulnerableEndpoint> = await get<Page<VulnerableEndpoint>>(`/cves/${encodeURIComponent(props.cve)}/vulnerable${qs({ after, limit: 500 })}`, signal);
        items.push(...p.items);
        after = p.nextCursor;
        if (!after) break;
      }
      return items;
    },
    [props.cve],
    { everyMs: 10_000 },
  );
  return html`<${Section} title="Vulnerable endpoints" what="vulnerable endpoints" load=${load} actions=${props.actions}>
    ${(items: VulnerableEndpoint[]) =>
      items.length === 0
        ? html`<${Empty}>No endpoint is exposed to ${props.cve}: every agent that loads an affected module has the fix applied.<//>`
        : html`<table class="vulnerable">
            <thead><tr><th>Host</th><th>Status</th><th>Group</th><th>Module</th><th>Patch</th><th>Processes patched</th></tr></thead>
            <tbody>
              ${items.map(
                (v) => html`<tr key=${v.agentId + v.patchId}>
                  <td><${Link} href=${`/agents/${v.agentId}`}>${v.hostname}<//></td>
                  <td><${Badge} value=${v.online ? 'online' : 'offline'} /></td>
                  <td>${v.group}</td>
                  <td>${v.moduleName} <span class="mono muted">${short(v.moduleSha256)}</span></td>
                  <td><${Link} href=${`/patches/${encodeURIComponent(v.patchId)}`}>${v.patchId}<//></td>
                  <td class="num">${v.applied}/${v.processes}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}
  <//>`;
}
