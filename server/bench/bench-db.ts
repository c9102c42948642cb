/** What every server benchmark starts from: a fresh PostgreSQL database, a scratch directory and the server's environment for them. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

export interface BenchDatabase {
  dbName: string;
  dbUrl: string;
  dir: string;
  port: number;
  serverUrl: string;
  /** The server's environment: this database, a data dir in `dir`, loopback on `port`, warnings only. */
  env: NodeJS.ProcessEnv;
  /** Drops the database (unless `keep`) and removes `dir`. */
  drop(opts?: { keep?: boolean }): Promise<void>;
}

/** Creates `suture_bench_<kind>_<pid>` on BENCH_DATABASE_URL / TEST_DATABASE_URL; exits 2 with what to do when PostgreSQL cannot be reached. */
export async function freshBenchDatabase(kind: string, log: (line: string) => void): Promise<BenchDatabase> {
  const base = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const dbName = `suture_bench_${kind}_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect().catch((err: Error) => {
    log(`cannot reach PostgreSQL at ${base} (${err.message}); start it or set BENCH_DATABASE_URL`);
    process.exit(2);
  });
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  const dir = await mkdtemp(join(tmpdir(), `suture-bench-${kind}-`));
  const port = await freePort();
  return {
    dbName,
    dbUrl: url.toString(),
    dir,
    port,
    serverUrl: `http://127.0.0.1:${port}`,
    env: { ...process.env, DATABASE_URL: url.toString(), SUTURE_DATA_DIR: join(dir, 'data'), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    async drop(opts = {}) {
      if (opts.keep) log(`kept database ${dbName}; drop it with: DROP DATABASE ${dbName}`);
      else await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err: Error) => log(`could not drop ${dbName}: ${err.message}`));
      await admin.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
