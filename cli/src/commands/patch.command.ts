import { SPEC_VERSION, type Envelope, type PatchDocument } from '@suture/shared/schemas';
import { addSignatures, checkThreshold, envelopeBytes, parseEnvelope, pinRoot, signDocument, verifyPublishedPatch } from '@suture/shared/trust';
import { collect, type CommandContext } from '../lib/context.util.ts';
import { readBytes, readJson, readText, writeOut } from '../lib/files.util.ts';
import { readSecretKeys, requireRole } from '../lib/key-file.util.ts';
import { CliError } from '../lib/output.util.ts';
import { assertPatchDocument, isEnvelope, readSignedPatch, refusal } from '../lib/patch-document.util.ts';
import { parsePatchSource } from '../lib/patch-source.schema.ts';
import { checkPatchletShapes, checkPatchletsInModule, loadModule } from '../lib/patchlet-check.util.ts';
import { trimmed, writeEnvelope } from '../lib/root-document.util.ts';

const hex32 = (n: number) => `0x${n.toString(16)}`;

function summary(doc: PatchDocument): string[] {
  return [
    `${doc.id} r${doc.release} [${doc.severity}] ${doc.title}${doc.cves.length ? ` (${doc.cves.join(', ')})` : ''}`,
    `  module: ${doc.module.name} ${doc.module.platform}/${doc.module.arch} sha256 ${doc.module.sha256} (${doc.module.size} bytes)`,
    ...doc.patchlets.map((p, i) => `  patchlet ${i}: ${p.kind} at RVA ${hex32(p.rva)}, ${p.expect.length / 2} bytes`),
  ];
}

/** `suture patch new|sign|verify`: author a patch against the module file, sign it offline, check it. */
export function registerPatch(ctx: CommandContext): void {
  const patch = ctx.group('patch', 'author, sign, verify and publish micropatches');

  patch
    .command('new')
    .description('build an unsigned patch document from a source file (YAML or JSON), checked against the module it fixes')
    .requiredOption('--source <file>', 'patch source: id, title, description, cves, severity, release, patchlets')
    .requiredOption('--module <file>', 'the module file (ELF or PE) the patch is for')
    .requiredOption('--out <file>', 'unsigned patch document to write')
    .action((o: { source: string; module: string; out: string }) =>
      ctx.run(async (out) => {
        const src = await parsePatchSource({ text: await readText({ path: o.source, what: 'patch source' }), path: o.source });
        checkPatchletShapes({ patchlets: src.patchlets });
        const mod = await loadModule({ path: o.module });
        for (const w of checkPatchletsInModule({ patchlets: src.patchlets, module: mod })) out.warn(w);
        const { parsed: _parsed, bytes: _bytes, ...identity } = mod;
        const doc = assertPatchDocument({
          value: {
            type: 'patch',
            specVersion: SPEC_VERSION,
            id: src.id,
            title: src.title,
            description: src.description,
            cves: src.cves,
            severity: src.severity,
            module: identity,
            release: src.release,
            created: new Date().toISOString(),
            patchlets: src.patchlets,
          } satisfies PatchDocument,
          path: o.out,
        });
        await writeOut({ path: o.out, text: `${JSON.stringify(doc, null, 2)}\n` });
        out.result({ out: o.out, id: doc.id, release: doc.release, module: doc.module, patchlets: doc.patchlets.length }, [
          ...summary(doc),
          `every expect matches ${mod.name}; unsigned document written to ${o.out}; next: suture patch sign --in ${o.out} --key <publisher key> --out <signed>`,
        ]);
      }),
    );

  patch
    .command('sign')
    .description('sign a patch document with publisher keys (or add signatures to a signed patch)')
    .requiredOption('--in <file>', 'unsigned patch document, or a signed patch to add signatures to')
    .requiredOption('--key <secret>', 'publisher secret key file (repeat)', collect)
    .requiredOption('--out <file>', 'signed patch to write')
    .option('--force-role', 'sign with keys made for another role')
    .action((o: { in: string; key: string[]; out: string; forceRole?: boolean }) =>
      ctx.run(async (out) => {
        const keys = await readSecretKeys({ paths: o.key, warn: out.warn });
        requireRole({ keys, role: 'publisher', force: o.forceRole, forceFlag: '--force-role' });
        const input = await readJson({ path: o.in, what: 'patch document' });
        let envelope: Envelope;
        if (isEnvelope(input)) {
          envelope = addSignatures((await readSignedPatch({ path: o.in })).envelope, keys);
        } else {
          envelope = signDocument('patch', assertPatchDocument({ value: input, path: o.in }), keys);
        }
        const check = parseEnvelope(envelopeBytes(envelope), 'patch');
        if (!check.ok) throw refusal({ path: o.in, reason: check.reason, detail: check.detail });
        const doc = check.value.document;
        const sha256 = await writeEnvelope({ path: o.out, envelope });
        out.result({ out: o.out, id: doc.id, release: doc.release, sha256, keyids: keys.map((k) => k.keyid), signatures: envelope.signatures.length }, [
          `signed ${doc.id} r${doc.release} with ${keys.length} key(s) (${envelope.signatures.length} signature(s) in all): ${o.out}`,
          `next: suture patch verify --in ${o.out} --root <root.json> --module <module file>`,
        ]);
      }),
    );

  patch
    .command('verify')
    .description("check a signed patch against a root's publisher keys (and, with --module, against the module file)")
    .requiredOption('--in <file>', 'signed patch')
    .requiredOption('--root <root.json>', 'the signed root to trust')
    .option('--module <file>', 'module file: its sha256 and every patchlet expect must match')
    .action((o: { in: string; root: string; module?: string }) =>
      ctx.run(async (out) => {
        const pinned = pinRoot({ bytes: trimmed(await readBytes({ path: o.root, what: 'root' })), now: new Date() });
        if (!pinned.ok)
          throw new CliError(`root ${o.root} refused (${pinned.reason}): ${pinned.detail}; pass a complete, unexpired root`, {
            code: 'root-refused',
            extra: { reason: pinned.reason },
          });
        const root = pinned.value.root.document;
        const signed = await readSignedPatch({ path: o.in });
        const r = verifyPublishedPatch({ root, bytes: signed.bytes });
        if (!r.ok) throw refusal({ path: o.in, reason: r.reason, detail: `${r.detail} (root v${root.version})` });
        const doc = r.value.document;
        const signers = checkThreshold({ envelope: r.value.envelope, root, role: 'publisher' });
        checkPatchletShapes({ patchlets: doc.patchlets });
        if (o.module) {
          const mod = await loadModule({ path: o.module });
          if (mod.sha256 !== doc.module.sha256)
            throw new CliError(`${o.in} refused (wrong-module): ${o.module} has sha256 ${mod.sha256}, the patch is for ${doc.module.sha256} (${doc.module.name})`, {
              code: 'patch-refused',
              extra: { reason: 'wrong-module' },
            });
          for (const w of checkPatchletsInModule({ patchlets: doc.patchlets, module: mod })) out.warn(w);
        }
        const keyids = signers.ok ? signers.value.keyids : [];
        out.result(
          {
            ok: true,
            id: doc.id,
            release: doc.release,
            title: doc.title,
            severity: doc.severity,
            cves: doc.cves,
            module: doc.module,
            patchlets: doc.patchlets.map((p) => ({ kind: p.kind, rva: p.rva, length: p.expect.length / 2 })),
            sha256: r.value.sha256,
            rootVersion: root.version,
            signedBy: keyids,
            moduleChecked: Boolean(o.module),
          },
          [
            `OK: signed by ${keyids.length} of ${root.roles.publisher.threshold} required publisher key(s) of root v${root.version}${o.module ? `; every expect matches ${o.module}` : ''}`,
            ...summary(doc),
          ],
        );
      }),
    );
}
