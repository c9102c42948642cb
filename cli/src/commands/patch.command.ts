import { basename } from 'node:path';
import type { Command } from 'commander';
import { SPEC_VERSION, type PatchDocument, type Patchlet } from '@suture/shared/schemas';
import { envelopeBytes, parseEnvelope, signDocument, verifyPublishedPatch } from '@suture/shared/trust';
import { bytesAtRva, ModuleFormatError, readModuleIdentity } from '@suture/shared/modules';
import { toHex } from '@suture/shared/encoding';
import { apiClient } from '../lib/client.ts';
import { readJson, readSecretKey, readText, writeOut } from '../lib/files.ts';
import { CliError, type Output } from '../lib/output.ts';
import { hex, parsePatchSource, rvaOf } from '../lib/patch-source.ts';
import { readRootFile } from './manifest.command.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function loadModule(path: string) {
  try {
    return await readModuleIdentity(path);
  } catch (err) {
    if (err instanceof ModuleFormatError) throw new CliError(`${path} is not an x86_64 ELF or PE module: ${err.message}`, 'bad-module');
    throw new CliError(`cannot read module ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'file-unreadable');
  }
}

/** Every patchlet's `expect` bytes must be in the module file at its RVA: a wrong RVA stops here. */
function checkPatchlets(patchlets: Patchlet[], mod: Awaited<ReturnType<typeof loadModule>>): void {
  patchlets.forEach((p, i) => {
    const where = `patchlet ${i} at RVA 0x${p.rva.toString(16)}`;
    const expect = p.expect;
    const len = expect.length / 2;
    const found = bytesAtRva(mod.parsed, mod.bytes, p.rva, len);
    if (!found) throw new CliError(`${where}: the ${len} bytes are not file-backed in ${mod.name}; check the RVA`, 'bad-rva');
    if (toHex(found) !== expect)
      throw new CliError(`${where}: expected ${expect} but ${mod.name} has ${toHex(found)}; check the RVA and the module version`, 'expect-mismatch');
    if (!mod.parsed.isExecutable(p.rva, len)) throw new CliError(`${where}: not in executable code`, 'not-code');
    if (p.kind === 'in-place' && p.write.length !== expect.length)
      throw new CliError(`${where}: write is ${p.write.length / 2} bytes, expect is ${len}; they must be the same length`, 'length-mismatch');
    if (p.kind === 'detour') {
      if (len < 5) throw new CliError(`${where}: a detour replaces at least 5 bytes (a jmp rel32), not ${len}`, 'detour-too-short');
      for (const r of p.relocations) {
        const size = r.type === 'rel32' ? 4 : 8;
        if (r.offset + size > p.code.length / 2) throw new CliError(`${where}: relocation at offset ${r.offset} does not fit in the code`, 'bad-relocation');
      }
    }
  });
  const sorted = [...patchlets].sort((a, b) => a.rva - b.rva);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i]!.rva < sorted[i - 1]!.rva + sorted[i - 1]!.expect.length / 2) throw new CliError('patchlets overlap', 'overlap');
}

async function readSigned(path: string) {
  const text = await readText(path, 'signed patch');
  const bytes = new TextEncoder().encode(text.trim());
  const parsed = parseEnvelope(bytes, 'patch');
  if (!parsed.ok) throw new CliError(`${path} is not a valid signed patch (${parsed.reason}): ${parsed.detail}`, 'patch-refused', 1, { reason: parsed.reason });
  return { bytes, parsed: parsed.value };
}

export function registerPatch(program: Command, run: (fn: (out: Output) => Promise<void>) => Promise<void>) {
  const patch = program.command('patch').description('author, sign, verify and publish micropatches');

  patch
    .command('new')
    .description('build a patch document from a source file and the module it fixes')
    .requiredOption('--source <file>', 'patch source (YAML or JSON)')
    .requiredOption('--module <file>', 'the module file the patch is for')
    .requiredOption('--out <file>', 'unsigned patch document to write')
    .action((o: { source: string; module: string; out: string }) =>
      run(async (out) => {
        const src = parsePatchSource(await readText(o.source, 'patch source'), o.source);
        const mod = await loadModule(o.module);
        const patchlets: Patchlet[] = src.patchlets.map((p) =>
          p.kind === 'in-place'
            ? { kind: 'in-place', rva: rvaOf(p.rva), expect: hex(p.expect), write: hex(p.write) }
            : { kind: 'detour', rva: rvaOf(p.rva), expect: hex(p.expect), code: hex(p.code), relocations: p.relocations.map((r) => ({ ...r, targetRva: rvaOf(r.targetRva) })) },
        );
        checkPatchlets(patchlets, mod);
        const { parsed: _p, bytes: _b, ...identity } = mod;
        const doc: PatchDocument = {
          type: 'patch',
          specVersion: SPEC_VERSION,
          id: src.id,
          title: src.title,
          description: src.description,
          cves: src.cves,
          severity: src.severity,
          module: { ...identity, name: basename(o.module) },
          release: src.release,
          created: new Date().toISOString(),
          patchlets,
        };
        await writeOut(o.out, `${JSON.stringify(doc, null, 2)}\n`);
        out.result({ id: doc.id, module: doc.module, patchlets: patchlets.length, out: o.out }, [
          `patch ${doc.id} r${doc.release} for ${doc.module.name} (${doc.module.sha256})`,
          `  ${patchlets.length} patchlet(s) checked against the module; written to ${o.out}`,
        ]);
      }),
    );

  patch
    .command('sign')
    .description('sign a patch document with publisher keys')
    .requiredOption('--in <file>', 'patch document')
    .requiredOption('--key <secret>', 'publisher secret key file (repeat)', collect)
    .requiredOption('--out <file>', 'signed envelope to write')
    .option('--force-role', 'allow keys whose role is not publisher')
    .action((o: { in: string; key: string[]; out: string; forceRole?: boolean }) =>
      run(async (out) => {
        const doc = (await readJson(o.in, 'patch document')) as PatchDocument;
        const keys = await Promise.all(o.key.map(readSecretKey));
        const wrong = keys.find((k) => k.role !== 'publisher');
        if (wrong && !o.forceRole) throw new CliError(`key ${wrong.keyid} is a ${wrong.role} key, not a publisher key (--force-role to sign anyway)`, 'wrong-role');
        let env;
        try {
          env = signDocument('patch', doc, keys);
        } catch (err) {
          throw new CliError(`${o.in} cannot be encoded: ${(err as Error).message}`, 'bad-document');
        }
        const check = parseEnvelope(envelopeBytes(env), 'patch');
        if (!check.ok) throw new CliError(`${o.in} is not a valid patch document (${check.reason}): ${check.detail}`, 'bad-document', 1, { reason: check.reason });
        await writeOut(o.out, `${new TextDecoder().decode(envelopeBytes(env))}\n`);
        out.result({ id: doc.id, out: o.out, keyids: keys.map((k) => k.keyid) }, `signed ${doc.id} with ${keys.length} key(s): ${o.out}`);
      }),
    );

  patch
    .command('verify')
    .description('check a signed patch against a root (and optionally the module file)')
    .requiredOption('--in <file>', 'signed patch')
    .requiredOption('--root <root.json>', 'signed root')
    .option('--module <file>', 'module file: its hash and every expect must match')
    .action((o: { in: string; root: string; module?: string }) =>
      run(async (out) => {
        const root = await readRootFile(o.root);
        const { bytes } = await readSigned(o.in);
        const r = verifyPublishedPatch({ root: root.document, bytes });
        if (!r.ok) throw new CliError(`refused (${r.reason}): ${r.detail}`, 'patch-refused', 1, { reason: r.reason });
        const doc = r.value.document;
        if (o.module) {
          const mod = await loadModule(o.module);
          if (mod.sha256 !== doc.module.sha256)
            throw new CliError(`${o.module} has sha256 ${mod.sha256}, the patch is for ${doc.module.sha256}`, 'wrong-module', 1, { reason: 'wrong-module' });
          checkPatchlets(doc.patchlets, mod);
        }
        out.result({ ok: true, id: doc.id, release: doc.release, module: doc.module.sha256, sha256: r.value.sha256 }, `OK: ${doc.id} r${doc.release} is signed by the root's publisher keys`);
      }),
    );

  patch
    .command('publish <signed>')
    .description('upload a signed patch to the server')
    .action((file: string) =>
      run(async (out) => {
        const { parsed } = await readSigned(file);
        const api = await apiClient();
        const p = await api.request<{ id: string; release: number; moduleSha256: string }>({ method: 'POST', path: '/api/v1/patches', body: parsed.envelope });
        out.result(p, `published ${p.id} r${p.release} for module ${p.moduleSha256}`);
      }),
    );

  patch
    .command('list')
    .description('list published patches')
    .option('--module <sha256>', 'only this module')
    .option('--all', 'include withdrawn patches')
    .action((o: { module?: string; all?: boolean }) =>
      run(async (out) => {
        const api = await apiClient();
        const qs = new URLSearchParams({ limit: '500', ...(o.module ? { module: o.module } : {}), ...(o.all ? { includeWithdrawn: 'true' } : {}) });
        const r = await api.request<{ items: { id: string; release: number; moduleName: string; severity: string; withdrawnAt: string | null }[] }>({ path: `/api/v1/patches?${qs}` });
        out.result(r, r.items.map((p) => `${p.id}\tr${p.release}\t${p.severity}\t${p.moduleName}${p.withdrawnAt ? '\t(withdrawn)' : ''}`).join('\n') || 'no patches');
      }),
    );

  patch
    .command('withdraw <id>')
    .description('withdraw a patch: it leaves its manifest at once')
    .action((id: string) =>
      run(async (out) => {
        const api = await apiClient();
        const p = await api.request({ method: 'POST', path: `/api/v1/patches/${encodeURIComponent(id)}/withdraw` });
        out.result(p, `withdrew ${id}`);
      }),
    );
}
