import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { generateKeyPair, keyPairFromSecret, type KeyPair } from '@suture/shared/trust';

/** Reads a file, or creates it (0600, exclusively) with `make()` when it does not exist yet. */
async function readOrCreate(path: string, make: () => string): Promise<{ text: string; created: boolean }> {
  try {
    return { text: await readFile(path, 'utf8'), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const text = make();
  try {
    const fh = await open(path, 'wx', 0o600);
    await fh.writeFile(text);
    await fh.close();
    return { text, created: true };
  } catch (err) {
    // Another process created it between our read and write: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { text: await readFile(path, 'utf8'), created: false };
    throw err;
  }
}

export async function loadJwtSecret(opts: { configured: string | undefined; dataDir: string }): Promise<string> {
  if (opts.configured) return opts.configured;
  const { text } = await readOrCreate(`${opts.dataDir}/jwt-secret`, () => randomBytes(48).toString('base64'));
  return text.trim();
}

const KeyFile = Compile(
  Type.Object({
    keytype: Type.Literal('ed25519'),
    keyid: Type.String(),
    public: Type.String(),
    secret: Type.String({ pattern: '^[0-9a-f]{128}$' }),
  }),
);

/**
 * The server's online key signs only manifests (freshness). It is generated on first start
 * unless ONLINE_KEY_FILE points at one made with `suture keys generate --role online`.
 */
export async function loadOnlineKey(path: string): Promise<{ key: KeyPair; created: boolean }> {
  const { text, created } = await readOrCreate(path, () => {
    const kp = generateKeyPair();
    return `${JSON.stringify({ keytype: 'ed25519', role: 'online', keyid: kp.keyid, public: kp.publicKey, secret: kp.secretKey })}\n`;
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`online key file ${path} is not JSON; create one with "suture keys generate --role online"`);
  }
  if (!KeyFile.Check(parsed)) throw new Error(`online key file ${path} is not an ed25519 key file`);
  return { key: keyPairFromSecret(parsed.secret), created };
}
