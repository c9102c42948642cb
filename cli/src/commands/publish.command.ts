import { apiClient } from '../lib/api.client.ts';
import type { CommandContext } from '../lib/context.util.ts';
import { readSignedPatch } from '../lib/patch-document.util.ts';
import { readRoot } from '../lib/root-document.util.ts';

/** Server-facing additions to the `root` and `patch` groups: publish, list, withdraw. */
export function registerPublish(ctx: CommandContext): void {
  const root = ctx.group('root', 'the root of trust: which keys may sign what');
  root
    .command('publish <root.json>')
    .description('upload a root to the server (admin)')
    .action((file: string) =>
      ctx.run(async (out) => {
        const { envelope } = await readRoot({ path: file });
        const api = await apiClient();
        const r = await api.request<{ version: number; changed: boolean }>({ method: 'PUT', path: '/api/v1/root', body: envelope });
        out.result(r, r.changed ? `root v${r.version} is now the server's root` : `the server already has root v${r.version}`);
      }),
    );

  const patch = ctx.group('patch', 'author, sign, verify and publish micropatches');
  patch
    .command('publish <signed>')
    .description('upload a signed patch to the server')
    .action((file: string) =>
      ctx.run(async (out) => {
        const { envelope } = await readSignedPatch({ path: file });
        const api = await apiClient();
        const p = await api.request<{ id: string; release: number; moduleSha256: string }>({ method: 'POST', path: '/api/v1/patches', body: envelope });
        out.result(p, `published ${p.id} r${p.release} for module ${p.moduleSha256}`);
      }),
    );

  patch
    .command('list')
    .description('list published patches')
    .option('--module <sha256>', 'only this module')
    .option('--all', 'include withdrawn patches')
    .action((o: { module?: string; all?: boolean }) =>
      ctx.run(async (out) => {
        const api = await apiClient();
        const qs = new URLSearchParams({ limit: '500', ...(o.module ? { module: o.module } : {}), ...(o.all ? { includeWithdrawn: 'true' } : {}) });
        const r = await api.request<{ items: { id: string; release: number; moduleName: string; severity: string; withdrawnAt: string | null }[] }>({
          path: `/api/v1/patches?${qs}`,
        });
        out.result(r, r.items.map((p) => `${p.id}\tr${p.release}\t${p.severity}\t${p.moduleName}${p.withdrawnAt ? '\t(withdrawn)' : ''}`).join('\n') || 'no patches');
      }),
    );

  patch
    .command('withdraw <id>')
    .description('withdraw a patch: it leaves its manifest at once')
    .action((id: string) =>
      ctx.run(async (out) => {
        const api = await apiClient();
        const p = await api.request({ method: 'POST', path: `/api/v1/patches/${encodeURIComponent(id)}/withdraw` });
        out.result(p, `withdrew ${id}`);
      }),
    );
}
