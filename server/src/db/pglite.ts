/**
 * Opens the embedded PGlite database. PGlite has no locking of its own (its postmaster.pid is a
 * constant placeholder), and two processes writing one data dir corrupt it; so we keep a lock
 * file beside the data dir holding the owner's pid.
 */
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

export class DatabaseInUseError extends Error {
  constructor(dir: string, by: string) {
    super(`the embedded database at ${dir} is in use by ${by}; stop it, or set DATABASE_URL to use PostgreSQL`);
    this.name = 'DatabaseInUseError';
  }
}

/** Lock files held by this process: a pid check cannot tell our own open instances apart. */
const heldHere = new Set<string>();

interface LockOwner {
  pid: number;
  hostname?: string;
  since?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file nobody could have been writing for this long is garbage, not a lock being taken. */
const HALF_WRITTEN_GRACE_MS = 10_000;

async function acquireLock(lockFile: string, dir: string): Promise<() => Promise<void>> {
  if (heldHere.has(lockFile)) throw new DatabaseInUseError(dir, 'this process (it is already open here)');
  const mine: LockOwner = { pid: process.pid, hostname: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lockFile, 'wx', 0o600);
      await fh.writeFile(JSON.stringify(mine));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (attempt > 0) throw new DatabaseInUseError(dir, `another process (it took lock file ${lockFile} just now)`);
    }
    const owner = await readFile(lockFile, 'utf8')
      .then((text) => JSON.parse(text) as LockOwner)
      .catch(() => undefined);
    if (!owner || typeof owner.pid !== 'number') {
      const age = Date.now() - (await stat(lockFile).then((s) => s.mtimeMs, () => 0));
      if (age < HALF_WRITTEN_GRACE_MS) throw new DatabaseInUseError(dir, `another process (it is taking lock file ${lockFile})`);
    } else if (owner.pid !== process.pid && alive(owner.pid)) {
      // (Our own pid in a stale file happens in containers, where the server is always pid 1.)
      throw new DatabaseInUseError(dir, `another process (pid ${owner.pid}${owner.hostname ? ` on ${owner.hostname}` : ''}; lock file ${lockFile})`);
    }
    await unlink(lockFile).catch(() => {}); // stale: its owner is gone
  }
  heldHere.add(lockFile);
  return async () => {
    heldHere.delete(lockFile);
    const owner = await readFile(lockFile, 'utf8').then((t) => JSON.parse(t) as LockOwner).catch(() => undefined);
    if (owner?.pid === process.pid) await unlink(lockFile).catch(() => {});
  };
}

export interface OpenPglite {
  pglite: PGlite;
  dir: string;
  close(): Promise<void>;
}

/** Opens (creating if needed) the PGlite data dir `dir`, exclusively for this process. */
export async function openPglite(dir: string): Promise<OpenPglite> {
  const abs = resolve(dir);
  await mkdir(dirname(abs), { recursive: true });
  const release = await acquireLock(`${abs}.lock`, abs);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(abs);
  } catch (err) {
    await release();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    pglite,
    dir: abs,
    close: () =>
      (closed ??= (async () => {
        try {
          if (!pglite.closed) await pglite.close();
        } finally {
          await release();
        }
      })()),
  };
}
