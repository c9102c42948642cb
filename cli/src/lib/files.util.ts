import { open, readFile, writeFile } from 'node:fs/promises';
import { CliError } from './output.util.ts';

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

export async function readBytes(opts: { path: string; what: string }): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(opts.path));
  } catch (err) {
    throw new CliError(`cannot read ${opts.what} ${opts.path} (${errno(err)}); check the path`, { code: 'file-unreadable' });
  }
}

export async function readText(opts: { path: string; what: string }): Promise<string> {
  try {
    return await readFile(opts.path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${opts.what} ${opts.path} (${errno(err)}); check the path`, { code: 'file-unreadable' });
  }
}

/** Never echoes the content: the file may hold a secret key. */
export async function readJson(opts: { path: string; what: string }): Promise<unknown> {
  const text = await readText(opts);
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`${opts.what} ${opts.path} is not JSON; pass the file that suture wrote`, { code: 'bad-file' });
  }
}

/** Creates a file with mode 0600 (O_EXCL unless `force`): nobody else may read it, and nothing is overwritten by accident. */
export async function writePrivate(opts: { path: string; text: string; force?: boolean }): Promise<void> {
  let fh;
  try {
    fh = await open(opts.path, opts.force ? 'w' : 'wx', 0o600);
    // An existing file (with --force) keeps its old mode on open: tighten it before writing.
    await fh.chmod(0o600);
    await fh.writeFile(opts.text);
  } catch (err) {
    if (errno(err) === 'EEXIST') throw new CliError(`${opts.path} exists; choose another --out or pass --force to overwrite it`, { code: 'exists' });
    throw new CliError(`cannot write ${opts.path} (${errno(err)}); check the directory`, { code: 'write-failed' });
  } finally {
    await fh?.close();
  }
}

export async function writeOut(opts: { path: string; text: string | Uint8Array; exclusive?: boolean }): Promise<void> {
  try {
    await writeFile(opts.path, opts.text, { flag: opts.exclusive ? 'wx' : 'w' });
  } catch (err) {
    if (errno(err) === 'EEXIST') throw new CliError(`${opts.path} exists; choose another --out or pass --force to overwrite it`, { code: 'exists' });
    throw new CliError(`cannot write ${opts.path} (${errno(err)}); check the directory`, { code: 'write-failed' });
  }
}
