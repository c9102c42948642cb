import { access, stat } from 'node:fs/promises';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { generateKeyPair, keyIdOf, keyPairFromSecret, type KeyPair } from '@suture/shared/trust';
import { readJson, writeOut, writePrivate } from './files.util.ts';
import { CliError } from './output.util.ts';

export const KEY_ROLES = ['root', 'publisher', 'online'] as const;
export const KeyRole = Type.Union([Type.Literal('root'), Type.Literal('publisher'), Type.Literal('online')]);
export type KeyRole = Static<typeof KeyRole>;

const Hex64 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const PublicKeyFile = Type.Object({ keytype: Type.Literal('ed25519'), role: Type.Optional(KeyRole), keyid: Hex64, public: Hex64 });
const SecretKeyFile = Type.Object({
  keytype: Type.Literal('ed25519'),
  role: KeyRole,
  keyid: Hex64,
  public: Hex64,
  secret: Type.String({ pattern: '^[0-9a-f]{128}$' }),
});
const checkPublic = Compile(PublicKeyFile);
const checkSecret = Compile(SecretKeyFile);

export type SecretKey = KeyPair & { role: KeyRole; path: string };
export interface PublicKey {
  keyid: string;
  publicKey: string;
  role?: KeyRole;
  path: string;
}

/** Creates `<path>` (secret, 0600, never overwritten without force) and `<path>.pub`. */
export async function writeKeyPair(opts: { path: string; role: KeyRole; force?: boolean }): Promise<{ keyid: string; publicPath: string }> {
  const publicPath = `${opts.path}.pub`;
  for (const path of opts.force ? [] : [opts.path, publicPath])
    if (await exists(path)) throw new CliError(`${path} exists; choose another --out or pass --force to overwrite it`, { code: 'exists' });
  const kp = generateKeyPair();
  const pub = { keytype: 'ed25519', role: opts.role, keyid: kp.keyid, public: kp.publicKey };
  await writePrivate({ path: opts.path, text: `${JSON.stringify({ ...pub, secret: kp.secretKey }, null, 2)}\n`, force: opts.force });
  await writeOut({ path: publicPath, text: `${JSON.stringify(pub, null, 2)}\n` });
  return { keyid: kp.keyid, publicPath };
}

/**
 * Reads a secret key file and proves it is self-consistent. Error messages never include the
 * file's content. `warn` hears about files that others can read.
 */
export async function readSecretKey(opts: { path: string; warn?: (line: string) => void }): Promise<SecretKey> {
  const v = await readJson({ path: opts.path, what: 'secret key file' });
  if (!checkSecret.Check(v))
    throw new CliError(`${opts.path} is not a secret key file (pass the file without .pub, made by "suture keys generate")`, { code: 'bad-key-file' });
  let kp: KeyPair;
  try {
    kp = keyPairFromSecret(v.secret);
  } catch {
    throw new CliError(`${opts.path}: the secret key is damaged; restore the file from its backup`, { code: 'bad-key-file' });
  }
  if (kp.publicKey !== v.public || kp.keyid !== v.keyid)
    throw new CliError(`${opts.path}: keyid or public key does not match the secret key; restore the file from its backup`, { code: 'bad-key-file' });
  const mode = (await stat(opts.path)).mode & 0o777;
  if (mode & 0o077) opts.warn?.(`${opts.path} is readable by others (mode ${mode.toString(8)}); run "chmod 600 ${opts.path}"`);
  return { ...kp, role: v.role, path: opts.path };
}

export async function readSecretKeys(opts: { paths: string[]; warn?: (line: string) => void }): Promise<SecretKey[]> {
  const keys = await Promise.all(opts.paths.map((path) => readSecretKey({ path, warn: opts.warn })));
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.keyid)) throw new CliError(`${k.path} is the same key as another one given; each key counts once`, { code: 'usage', exitCode: 2 });
    seen.add(k.keyid);
  }
  return keys;
}

/** "a root key", "an online key" */
export const aKey = (role: string) => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role} key`;

/** Refuses keys made for another role: a root key signing patches is a mistake worth stopping. */
export function requireRole(opts: { keys: SecretKey[]; role: KeyRole; force?: boolean; forceFlag: string }): void {
  if (opts.force) return;
  const wrong = opts.keys.find((k) => k.role !== opts.role);
  if (wrong)
    throw new CliError(`${wrong.path} is ${aKey(wrong.role)}, not ${aKey(opts.role)}; use ${aKey(opts.role)} (or ${opts.forceFlag} to sign anyway)`, {
      code: 'wrong-role',
    });
}

/** Reads a public key file; a secret key file is accepted too (only its public half is used). */
export async function readPublicKey(opts: { path: string }): Promise<PublicKey> {
  const v = await readJson({ path: opts.path, what: 'public key file' });
  if (!checkPublic.Check(v)) throw new CliError(`${opts.path} is not a key file; make one with "suture keys generate"`, { code: 'bad-key-file' });
  if (keyIdOf(v.public) !== v.keyid) throw new CliError(`${opts.path}: keyid is not the sha256 of the public key; the file is damaged`, { code: 'bad-key-file' });
  return { keyid: v.keyid, publicKey: v.public, path: opts.path, ...(v.role ? { role: v.role } : {}) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
