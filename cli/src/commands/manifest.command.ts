import { pinRoot, verifyUpdate } from '@suture/shared/trust';
import { apiClient } from '../lib/api.client.ts';
import { collect, type CommandContext } from '../lib/context.util.ts';
import { readBytes, writeOut } from '../lib/files.util.ts';
import { CliError, usageError } from '../lib/output.util.ts';
import { loadModule } from '../lib/patchlet-check.util.ts';
import { trimmed } from '../lib/root-document.util.ts';

const fileBytes = async (opts: { path: string; what: string }) => trimmed(await readBytes(opts));

/** `suture manifest get|verify`: the online-signed manifests agents receive, checked the way agents check them. */
export function registerManifest(ctx: CommandContext): void {
  const manifest = ctx.group('manifest', 'online-signed manifests, as agents receive them');

  manifest
    .command('get <sha256>')
    .description("fetch a module's signed manifest")
    .requiredOption('--out <file>', 'where to write it')
    .action((sha: string, o: { out: string }) =>
      ctx.run(async (out) => {
        if (!/^[0-9a-f]{64}$/.test(sha)) throw usageError(`${sha} is not a sha256 (64 lower-case hex digits)`);
        const api = await apiClient();
        const bytes = await api.requestBytes({ path: `/api/v1/manifests/${sha}` });
        await writeOut({ path: o.out, text: bytes });
        out.result({ module: sha, out: o.out, bytes: bytes.length }, `manifest for ${sha} written to ${o.out}`);
      }),
    );

  manifest
    .command('verify')
    .description('run the agent verification on a manifest and its patches, as an agent would')
    .requiredOption('--manifest <file>', 'signed manifest')
    .requiredOption('--root <root.json>', 'the pinned root')
    .requiredOption('--module <file>', 'the module file (its hash must be the one the manifest names)')
    .option('--patch <signed>', 'signed patch named by the manifest (repeat)', collect)
    .action((o: { manifest: string; root: string; module: string; patch?: string[] }) =>
      ctx.run(async (out) => {
        const now = new Date();
        const pinned = pinRoot({ bytes: await fileBytes({ path: o.root, what: 'root' }), now });
        if (!pinned.ok) throw new CliError(`root refused (${pinned.reason}): ${pinned.detail}; pass a complete, unexpired root`, { code: 'root-refused', extra: { reason: pinned.reason } });
        const mod = await loadModule({ path: o.module });
        const patches = await Promise.all((o.patch ?? []).map((path) => fileBytes({ path, what: 'signed patch' })));
        const r = verifyUpdate({ state: pinned.value, manifest: await fileBytes({ path: o.manifest, what: 'manifest' }), patches, mappedModuleSha256: mod.sha256, now });
        if (!r.ok) throw new CliError(`refused (${r.reason}): ${r.detail}`, { code: 'refused', extra: { reason: r.reason } });
        const m = r.value.manifest.document;
        out.result(
          { ok: true, module: m.module, version: m.version, expires: m.expires, patches: r.value.patches.map((p) => p.document.id) },
          `OK: manifest v${m.version} for ${mod.name} (expires ${m.expires}); ${r.value.patches.length} patch(es) verified`,
        );
      }),
    );
}
