import type { Command } from 'commander';
import { SPEC_VERSION, type RootDocument } from '@suture/shared/schemas';
import { addSignatures, checkThreshold, envelopeBytes, parseEnvelope, signDocument } from '@suture/shared/trust';
import { apiClient } from '../lib/client.ts';
import { readJson, readPublicKey, readSecretKey, readText, writeOut } from '../lib/files.ts';
import { CliError, type Output } from '../lib/output.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${v} is not a positive integer`, 'usage', 2);
  return n;
};

async function readRoot(path: string) {
  const text = await readText(path, 'root');
  const r = parseEnvelope(new TextEncoder().encode(text.trim()), 'root');
  if (!r.ok) throw new CliError(`${path} is not a valid root (${r.reason}): ${r.detail}`, 'bad-root', 1, { reason: r.reason });
  return r.value;
}

type Role = { keyids: string[]; threshold: number };
async function role(files: string[] | undefined, threshold: number | undefined, prev: Role | undefined, keys: RootDocument['keys'], name: string): Promise<Role> {
  if (!files?.length) {
    if (!prev) throw new CliError(`name at least one ${name} key (--${name} <file>)`, 'usage', 2);
    return { keyids: prev.keyids, threshold: threshold ?? prev.threshold };
  }
  const ks = await Promise.all(files.map(readPublicKey));
  for (const k of ks) keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
  const t = threshold ?? 1;
  if (t > ks.length) throw new CliError(`${name} threshold ${t} is more than the ${ks.length} key(s) given`, 'usage', 2);
  return { keyids: ks.map((k) => k.keyid), threshold: t };
}

function prune(doc: RootDocument): RootDocument {
  const used = new Set(Object.values(doc.roles).flatMap((r) => r.keyids));
  return { ...doc, keys: Object.fromEntries(Object.entries(doc.keys).filter(([k]) => used.has(k))) };
}

export function registerRoot(program: Command, run: (fn: (out: Output) => Promise<void>) => Promise<void>) {
  const root = program.command('root').description('the root of trust: which keys may sign what');
  const roleOptions = (c: Command) =>
    c
      .option('--publisher <pub>', 'publisher public key file (repeat)', collect)
      .option('--publisher-threshold <n>', 'publisher signatures required', int)
      .option('--online <pub>', "online (server manifest) public key file (repeat)", collect)
      .option('--online-threshold <n>', 'online signatures required', int)
      .option('--expires <days>', 'days until this root expires', int, 365)
      .requiredOption('--out <path>', 'where to write the signed root');

  roleOptions(
    root
      .command('create')
      .description('create root version 1, signed by the given root keys')
      .requiredOption('--root-key <secret>', 'root secret key file (repeat)', collect)
      .option('--threshold <n>', 'root signatures required', int),
  ).action((o) =>
    run(async (out) => {
      const rootKeys = await Promise.all((o.rootKey as string[]).map(readSecretKey));
      const keys: RootDocument['keys'] = {};
      for (const k of rootKeys) keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
      const threshold = o.threshold ?? rootKeys.length;
      if (threshold > rootKeys.length) throw new CliError(`root threshold ${threshold} is more than the ${rootKeys.length} root key(s)`, 'usage', 2);
      const doc: RootDocument = {
        type: 'root',
        specVersion: SPEC_VERSION,
        version: 1,
        expires: new Date(Date.now() + o.expires * 86_400_000).toISOString(),
        keys,
        roles: {
          root: { keyids: rootKeys.map((k) => k.keyid), threshold },
          publisher: await role(o.publisher, o.publisherThreshold, undefined, keys, 'publisher'),
          online: await role(o.online, o.onlineThreshold, undefined, keys, 'online'),
        },
      };
      const env = signDocument('root', doc, rootKeys);
      await writeOut(o.out, `${new TextDecoder().decode(envelopeBytes(env))}\n`);
      out.result({ version: 1, out: o.out, expires: doc.expires }, `root v1 written to ${o.out} (expires ${doc.expires})`);
    }),
  );

  roleOptions(
    root
      .command('rotate')
      .description('make version N+1, signed by thresholds of both the current and the new root keys')
      .requiredOption('--current <root.json>', 'the current signed root')
      .requiredOption('--old-key <secret>', 'current root secret key file (repeat)', collect)
      .option('--new-root-key <secret>', 'new root secret key file (repeat); default: keep the root keys', collect)
      .option('--threshold <n>', 'new root threshold', int),
  ).action((o) =>
    run(async (out) => {
      const cur = await readRoot(o.current);
      const prev = cur.document;
      const oldKeys = await Promise.all((o.oldKey as string[]).map(readSecretKey));
      const newKeys = o.newRootKey ? await Promise.all((o.newRootKey as string[]).map(readSecretKey)) : [];
      const keys: RootDocument['keys'] = { ...prev.keys };
      for (const k of newKeys) keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
      const rootRole = newKeys.length
        ? { keyids: newKeys.map((k) => k.keyid), threshold: o.threshold ?? newKeys.length }
        : { keyids: prev.roles.root.keyids, threshold: o.threshold ?? prev.roles.root.threshold };
      const doc = prune({
        ...prev,
        version: prev.version + 1,
        expires: new Date(Date.now() + o.expires * 86_400_000).toISOString(),
        keys,
        roles: {
          root: rootRole,
          publisher: await role(o.publisher, o.publisherThreshold, prev.roles.publisher, keys, 'publisher'),
          online: await role(o.online, o.onlineThreshold, prev.roles.online, keys, 'online'),
        },
      });
      const signers = [...oldKeys, ...newKeys.filter((k) => !oldKeys.some((x) => x.keyid === k.keyid))];
      const env = signDocument('root', doc, signers);
      const byOld = checkThreshold({ envelope: env, root: prev, role: 'root' });
      if (!byOld.ok) throw new CliError(`the current root's threshold is not met: ${byOld.detail}; pass its keys with --old-key`, 'threshold-not-met');
      const byNew = checkThreshold({ envelope: env, root: doc, role: 'root' });
      if (!byNew.ok)
        throw new CliError(`the new root's threshold is not met: ${byNew.detail}; sign with "suture root sign" by the other holders`, 'threshold-not-met');
      await writeOut(o.out, `${new TextDecoder().decode(envelopeBytes(env))}\n`);
      out.result({ version: doc.version, out: o.out, expires: doc.expires }, `root v${doc.version} written to ${o.out}`);
    }),
  );

  root
    .command('sign')
    .description('add signatures to a root (threshold signing by several key holders)')
    .requiredOption('--in <root.json>', 'signed root')
    .requiredOption('--key <secret>', 'root secret key file (repeat)', collect)
    .requiredOption('--out <path>', 'output')
    .action((o: { in: string; key: string[]; out: string }) =>
      run(async (out) => {
        const cur = await readRoot(o.in);
        const env = addSignatures(cur.envelope, await Promise.all(o.key.map(readSecretKey)));
        await writeOut(o.out, `${new TextDecoder().decode(envelopeBytes(env))}\n`);
        out.result({ out: o.out, signatures: env.signatures.length }, `${env.signatures.length} signature(s) on ${o.out}`);
      }),
    );

  root
    .command('publish <root.json>')
    .description('upload a root to the server (admin)')
    .action((file: string) =>
      run(async (out) => {
        const env = await readJson(file, 'root');
        const api = await apiClient();
        const r = await api.request<{ version: number; changed: boolean }>({ method: 'PUT', path: '/api/v1/root', body: env });
        out.result(r, r.changed ? `root v${r.version} is now the server's root` : `the server already has root v${r.version}`);
      }),
    );
}
