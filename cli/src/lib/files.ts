import { open, readFile, writeFile } from 'node:fs/promises';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { keyPairFromSecret, type KeyPair } from '@suture/shared/trust';
import { CliError } from './output.ts';

export const KeyRole = Type.Union([Type.Literal('root'), Type.Literal('publisher'), Type.Literal('online')]);
export type KeyRole = Static<typeof KeyRole>;
const SecretKeyFile = Compile(
  Type.Object({ keytype: Type.Literal('ed25519'), role: KeyRole, keyid: Type.String(), public: Type.String({ pattern: '^[0-9a-f]{64}$' }), secret: Type.String({ pattern: '^[0-9a-f]{128}$' }) }),
);
const PublicKeyFile = Compile(
  Type.Object({ keytype: Type.Literal('ed25519'), role: Type.Optional(KeyRole), keyid: Type.String(), public: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
);

export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'file-unreadable');
  }
}

export async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`${what} ${path} is not JSON`, 'bad-file');
  }
}

export async function readSecretKey(path: string): Promise<KeyPair & { role: KeyRole }> {
  const v = await readJson(path, 'key file');
  if (!SecretKeyFile.Check(v)) throw new CliError(`${path} is not a secret key file; make one with "suture keys generate"`, 'bad-key-file');
  const kp = keyPairFromSecret(v.secret);
  if (kp.publicKey !== v.public) throw new CliError(`${path}: the public key does not match the secret key`, 'bad-key-file');
  return { ...kp, role: v.role };
}

/** Accepts a public key file or a secret key file (only its public half is used). */
export async function readPublicKey(path: string): Promise<{ keyid: string; publicKey: string; role?: KeyRole }> {
  const v = await readJson(path, 'public key file');
  if (!PublicKeyFile.Check(v)) throw new CliError(`${path} is not a key file; make one with "suture keys generate"`, 'bad-key-file');
  return { keyid: v.keyid, publicKey: v.public, ...(v.role ? { role: v.role } : {}) };
}

/** Creates a file with mode 0600, never overwriting unless `force`. */
export async function writePrivate(path: string, text: string, force = false): Promise<void> {
  try {
    const fh = await open(path, force ? 'w' : 'wx', 0o600);
    await fh.chmod(0o600);
    await fh.writeFile(text);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${path} exists; choose another --out or pass --force`, 'exists');
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`, 'write-failed');
  }
}

export async function writeOut(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`, 'write-failed');
  }
}

export async function readPassword(opts: { stdin?: boolean; prompt: string }): Promise<string> {
  if (opts.stdin || !process.stdin.isTTY) {
    if (!opts.stdin) throw new CliError('no terminal to ask for the password: pass --password-stdin and pipe it in', 'no-tty', 2);
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (!line) throw new CliError('no password on standard input', 'no-password', 2);
    return line;
  }
  process.stderr.write(opts.prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let pw = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(pw);
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          return reject(new CliError('cancelled', 'cancelled', 130));
        }
        pw = ch === '\u007f' ? pw.slice(0, -1) : pw + ch;
      }
    };
    stdin.on('data', onData);
  });
}
