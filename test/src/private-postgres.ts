/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir, on a free port), so a test can
 * stop and start it without disturbing the shared one. As root it runs as the `postgres` user
 * (PostgreSQL refuses to run as root).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './harness.ts';

const BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  url: string;
  start(): void;
  /** Fast shutdown: every connection is terminated, new ones are refused. */
  stop(): void;
  /** Stops it (if running) and deletes its files. */
  remove(): void;
}

/** Why a private cluster cannot be made here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  if (!existsSync(join(BIN, 'initdb')) || !existsSync(join(BIN, 'pg_ctl'))) return `no PostgreSQL server binaries in ${BIN} (set PG_BIN)`;
  if (process.platform !== 'linux') return 'the private cluster helper is written for Linux';
  if (userInfo().uid === 0 && spawnSync('id', ['postgres']).status !== 0) return 'running as root and there is no postgres user to run PostgreSQL as';
  return undefined;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'suture-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  chmodSync(dir, 0o700);
  const run = (cmd: string, args: string[]) => {
    const r = root ? spawnSync('runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args], { encoding: 'utf8' }) : spawnSync(join(BIN, cmd), args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let running = false;
  const pg: PrivatePostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start() {
      run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
      running = true;
    },
    stop() {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    remove() {
      if (running) pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  return pg;
}
