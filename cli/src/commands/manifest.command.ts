import type { Command } from 'commander';
import { parseEnvelope, pinRoot, verifyUpdate } from '@suture/shared/trust';
import { readModuleIdentity } from '@suture/shared/modules';
import { apiClient } from '../lib/client.ts';
import { readText, writeOut } from '../lib/files.ts';
import { CliError, type Output } from '../lib/output.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const fileBytes = async (path: string, what: string) => new TextEncoder().encode((await readText(path, what)).trim());

export async function readRootFile(path: string) {
  const r = parseEnvelope(await fileBytes(path, 'root'), 'root');
  if (!r.ok) throw new CliError(`${path} is not a valid root (${r.reason}): ${r.detail}`, 'bad-root', 1, { reason: r.reason });
  return r.value;
}

export function registerManifest(program: Command, run: (fn: (out: Output) => Promise<void>) => Promise<void>) {
  const manifest = program.command('manifest').description('online-signed manifests, as agents receive them');

  manifest
    .command('get <sha256>')
    .description("fetch a module's signed manifest")
    .requiredOption('--out <file>', 'where to write it')
    .action((sha: string, o: { out: string }) =>
      run(async (out) => {
        if (!/^[0-9a-f]{64}$/.test(sha)) throw new CliError(`${sha} is not a sha256 (64 lower-case hex digits)`, 'usage', 2);
        const api = await apiClient();
        const bytes = await api.requestBytes(`/api/v1/manifests/${sha}`);
        await writeOut(o.out, bytes.toString('utf8'));
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
      run(async (out) => {
        const now = new Date();
        const pinned = pinRoot({ bytes: await fileBytes(o.root, 'root'), now });
        if (!pinned.ok) throw new CliError(`root refused (${pinned.reason}): ${pinned.detail}`, 'root-refused', 1, { reason: pinned.reason });
        const mod = await readModuleIdentity(o.module);
        const patches = await Promise.all((o.patch ?? []).map((p) => fileBytes(p, 'signed patch')));
        const r = verifyUpdate({ state: pinned.value, manifest: await fileBytes(o.manifest, 'manifest'), patches, mappedModuleSha256: mod.sha256, now });
        if (!r.ok) throw new CliError(`refused (${r.reason}): ${r.detail}`, 'refused', 1, { reason: r.reason });
        const m = r.value.manifest.document;
        out.result(
          { ok: true, module: m.module, version: m.version, expires: m.expires, patches: r.value.patches.map((p) => p.document.id) },
          `OK: manifest v${m.version} for ${mod.name} (expires ${m.expires}); ${r.value.patches.length} patch(es) verified`,
        );
      }),
    );
}
