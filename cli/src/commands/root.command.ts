import type { Command } from 'commander';
import { SPEC_VERSION, type RootDocument } from '@suture/shared/schemas';
import { addSignatures, signDocument } from '@suture/shared/trust';
import { collect, positiveInt, type CommandContext } from '../lib/context.util.ts';
import { readPublicKey, readSecretKeys, requireRole } from '../lib/key-file.util.ts';
import { CliError } from '../lib/output.util.ts';
import {
  assertRolesDisjoint,
  assertValidRoot,
  buildRole,
  checkedRole,
  expiresIn,
  pruneKeys,
  readRoot,
  rolesSummary,
  rootThreshold,
  writeEnvelope,
} from '../lib/root-document.util.ts';

interface RoleFlags {
  publisher?: string[];
  publisherThreshold?: number;
  online?: string[];
  onlineThreshold?: number;
  expires: number;
  out: string;
  forceRole?: boolean;
}

function roleOptions(c: Command): Command {
  return c
    .option('--publisher <pub>', 'publisher public key file (repeat for several)', collect)
    .option('--publisher-threshold <n>', 'publisher signatures a patch needs', positiveInt)
    .option('--online <pub>', 'online (server manifest) public key file (repeat for several)', collect)
    .option('--online-threshold <n>', 'online signatures a manifest needs', positiveInt)
    .option('--expires <days>', 'days until this root expires', positiveInt, 365)
    .option('--force-role', 'accept key files made for another role')
    .requiredOption('--out <path>', 'where to write the signed root');
}

/** `suture root create|rotate|sign`: the offline root of trust that names every other key. */
export function registerRoot(ctx: CommandContext): void {
  const root = ctx.group('root', 'the root of trust: which keys may sign what');

  roleOptions(
    root
      .command('create')
      .description('create root version 1, signed by the given root keys')
      .requiredOption('--root-key <secret>', 'root secret key file (repeat for several)', collect)
      .option('--root-pub <public>', 'root public key file of another holder, who signs later with "suture root sign" (repeat)', collect)
      .option('--threshold <n>', 'root signatures required (default: every root key)', positiveInt),
  ).action((o: RoleFlags & { rootKey: string[]; rootPub?: string[]; threshold?: number }) =>
    ctx.run(async (out) => {
      const signers = await readSecretKeys({ paths: o.rootKey, warn: out.warn });
      requireRole({ keys: signers, role: 'root', force: o.forceRole, forceFlag: '--force-role' });
      const others = await Promise.all((o.rootPub ?? []).map((path) => readPublicKey({ path })));
      const keys: RootDocument['keys'] = {};
      for (const k of [...signers, ...others]) keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
      const rootKeyids = [...signers, ...others].map((k) => k.keyid);
      const doc: RootDocument = {
        type: 'root',
        specVersion: SPEC_VERSION,
        version: 1,
        expires: expiresIn(o.expires),
        keys,
        roles: {
          root: checkedRole({ role: 'root', keyids: rootKeyids, threshold: o.threshold ?? rootKeyids.length }),
          publisher: await buildRole({ role: 'publisher', files: o.publisher, threshold: o.publisherThreshold, keys, forceRole: o.forceRole }),
          online: await buildRole({ role: 'online', files: o.online, threshold: o.onlineThreshold, keys, forceRole: o.forceRole }),
        },
      };
      assertRolesDisjoint(doc);
      const envelope = signDocument('root', doc, signers);
      assertValidRoot({ envelope });
      const status = rootThreshold({ envelope, root: doc });
      const sha256 = await writeEnvelope({ path: o.out, envelope });
      if (!status.met) out.warn(`${o.out} is not complete yet (${status.detail}); the other holders run "suture root sign --in ${o.out} --key <their key> --out ${o.out}"`);
      out.result({ out: o.out, version: 1, expires: doc.expires, sha256, roles: doc.roles, thresholdMet: status.met }, [
        `root v1 written to ${o.out} (expires ${doc.expires})`,
        ...rolesSummary(doc),
      ]);
    }),
  );

  roleOptions(
    root
      .command('rotate')
      .description('make version N+1, signed by thresholds of both the current and the new root keys; unchanged roles carry over')
      .requiredOption('--current <root.json>', 'the current signed root (version N)')
      .requiredOption('--old-key <secret>', 'secret key file of a current root key (repeat up to its threshold)', collect)
      .option('--new-root-key <secret>', 'secret key file of a new root key (repeat); default: keep the current root keys', collect)
      .option('--threshold <n>', 'new root threshold (default: every new root key, or the current threshold)', positiveInt),
  ).action((o: RoleFlags & { current: string; oldKey: string[]; newRootKey?: string[]; threshold?: number }) =>
    ctx.run(async (out) => {
      const prev = (await readRoot({ path: o.current })).document;
      const oldKeys = await readSecretKeys({ paths: o.oldKey, warn: out.warn });
      const newKeys = await readSecretKeys({ paths: o.newRootKey ?? [], warn: out.warn });
      requireRole({ keys: [...oldKeys, ...newKeys], role: 'root', force: o.forceRole, forceFlag: '--force-role' });
      const keys: RootDocument['keys'] = { ...prev.keys };
      for (const k of newKeys) keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
      const rootRole = newKeys.length
        ? checkedRole({ role: 'root', keyids: newKeys.map((k) => k.keyid), threshold: o.threshold ?? newKeys.length })
        : checkedRole({ role: 'root', keyids: prev.roles.root.keyids, threshold: o.threshold ?? prev.roles.root.threshold });
      const roles = {
        root: rootRole,
        publisher: await buildRole({ role: 'publisher', files: o.publisher, threshold: o.publisherThreshold, previous: prev.roles.publisher, keys, forceRole: o.forceRole }),
        online: await buildRole({ role: 'online', files: o.online, threshold: o.onlineThreshold, previous: prev.roles.online, keys, forceRole: o.forceRole }),
      };
      const doc = pruneKeys({ ...prev, version: prev.version + 1, expires: expiresIn(o.expires), keys, roles });
      assertRolesDisjoint(doc);
      const signers = [...oldKeys, ...newKeys.filter((k) => !oldKeys.some((x) => x.keyid === k.keyid))];
      const envelope = signDocument('root', doc, signers);
      assertValidRoot({ envelope });
      // Agents accept N+1 only with both thresholds (TUF): check before anything is written.
      const byOld = rootThreshold({ envelope, root: prev });
      if (!byOld.met)
        throw new CliError(`refused: root v${prev.version}'s threshold is not met (${byOld.detail}); pass more of its root keys with --old-key`, {
          code: 'threshold-not-met',
          extra: { reason: 'threshold-not-met' },
        });
      const byNew = rootThreshold({ envelope, root: doc });
      if (!byNew.met)
        throw new CliError(`refused: the new root's own threshold is not met (${byNew.detail}); pass more new root keys with --new-root-key or lower --threshold`, {
          code: 'threshold-not-met',
          extra: { reason: 'threshold-not-met' },
        });
      const sha256 = await writeEnvelope({ path: o.out, envelope });
      out.result({ out: o.out, version: doc.version, expires: doc.expires, sha256, roles: doc.roles }, [
        `root v${doc.version} written to ${o.out} (expires ${doc.expires}), signed by the v${prev.version} and v${doc.version} root keys`,
        ...rolesSummary(doc),
      ]);
    }),
  );

  root
    .command('sign')
    .description('add signatures to a root (threshold signing by several key holders)')
    .requiredOption('--in <root.json>', 'the signed root')
    .requiredOption('--key <secret>', 'root secret key file (repeat)', collect)
    .requiredOption('--out <path>', 'where to write the root with the added signatures (may be --in)')
    .option('--previous <root.json>', 'for a rotated root: the root it replaces, to report its threshold too')
    .option('--force-role', 'accept key files made for another role')
    .action((o: { in: string; key: string[]; out: string; previous?: string; forceRole?: boolean }) =>
      ctx.run(async (out) => {
        const cur = await readRoot({ path: o.in });
        const prev = o.previous ? (await readRoot({ path: o.previous })).document : undefined;
        const keys = await readSecretKeys({ paths: o.key, warn: out.warn });
        requireRole({ keys, role: 'root', force: o.forceRole, forceFlag: '--force-role' });
        const named = new Set([...cur.document.roles.root.keyids, ...(prev?.roles.root.keyids ?? [])]);
        const stranger = keys.find((k) => !named.has(k.keyid));
        if (stranger)
          throw new CliError(`${stranger.path} is not a root key of ${o.in}${prev ? ` or ${o.previous}` : ''}; its signature would not count`, {
            code: 'unknown-key',
          });
        const envelope = addSignatures(cur.envelope, keys);
        const status = rootThreshold({ envelope, root: cur.document });
        const prevStatus = prev ? rootThreshold({ envelope, root: prev }) : undefined;
        const sha256 = await writeEnvelope({ path: o.out, envelope });
        const v = cur.document.version;
        out.result(
          { out: o.out, version: v, sha256, signatures: envelope.signatures.length, thresholdMet: status.met, ...(prevStatus ? { previousThresholdMet: prevStatus.met } : {}) },
          [
            `${envelope.signatures.length} signature(s) on root v${v}, written to ${o.out}`,
            `  v${v} root keys: ${status.met ? 'threshold met' : 'not yet'} (${status.detail})`,
            ...(prevStatus && prev ? [`  v${prev.version} root keys: ${prevStatus.met ? 'threshold met' : 'not yet'} (${prevStatus.detail})`] : []),
          ],
        );
      }),
    );
}
