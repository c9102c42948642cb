/**
 * The database: PostgreSQL when a URL is configured, else embedded PGlite in the data dir.
 * `createDb` migrates before it returns, so the server can call it once at start.
 */
import { join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import { pgliteRunner, pgRunner, runMigrations, type DbLogger, type SqlRunner } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { pgliteNotifications, postgresNotifications, type Notifications } from './notifications.ts';
import { createPgPool, describeUrl, prismaUrlParams, withTimeout } from './postgres.ts';

export * from '../generated/prisma/client.ts';
export { MigrationError, type DbLogger } from './migrate.ts';
export { DatabaseInUseError } from './pglite.ts';
export type { ListenSession, Notifications } from './notifications.ts';

export type DbKind = 'postgres' | 'pglite';

export interface Db {
  prisma: PrismaClient;
  kind: DbKind;
  /** LISTEN/NOTIFY on this database (replicas tell each other what changed). */
  notifications: Notifications;
  /**
   * A read past Prisma's row decoding, for hot listings (a page of 500 events takes about half
   * the time). Select only columns both drivers decode alike: text (cast bigint and timestamps
   * to text in SQL), float8, bool, text[]. Parameters: a bigint goes as text, a Date as ISO 8601
   * UTC (what a timestamp(3) column stores).
   */
  rows<T>(sql: Prisma.Sql): Promise<T[]>;
  /** Resolves when the database answers; rejects within PING_TIMEOUT_MS otherwise. */
  ping(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** postgresql://… ; without it the embedded PGlite at `<dataDir>/pglite` is used. */
  databaseUrl?: string | undefined;
  dataDir: string;
  logger: DbLogger;
  migrationsDir?: string;
  /** PostgreSQL pool size (default 10, or `connection_limit` in the URL). */
  poolSize?: number;
  /** PostgreSQL connection timeout (default 5 s, or `connect_timeout` in the URL). */
  connectTimeoutMs?: number;
}

export const PING_TIMEOUT_MS = 2_000;

export const pgliteDir = (dataDir: string) => join(dataDir, 'pglite');

export async function createDb(opts: CreateDbOptions): Promise<Db> {
  return opts.databaseUrl ? createPostgresDb({ ...opts, databaseUrl: opts.databaseUrl }) : createPgliteDb(opts);
}

/** Parameters as text where the two drivers would encode them differently (pg sends a Date in local time). */
const params = (sql: Prisma.Sql): unknown[] => sql.values.map((v) => (typeof v === 'bigint' ? v.toString() : v instanceof Date ? v.toISOString() : v));

function connectError(url: string, err: unknown): Error {
  const e = err as Error;
  // Node reports a refused `localhost` (IPv6 and IPv4 tried) as an AggregateError with no message.
  const detail = e instanceof AggregateError ? e.errors.map((x: Error) => x.message).join('; ') : e.message;
  return new Error(`cannot connect to PostgreSQL at ${describeUrl(url)}: ${detail}`, { cause: err });
}

async function createPostgresDb(opts: CreateDbOptions & { databaseUrl: string }): Promise<Db> {
  const { logger, databaseUrl } = opts;
  const pool = createPgPool({ url: databaseUrl, logger, max: opts.poolSize, connectTimeoutMs: opts.connectTimeoutMs });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      throw connectError(databaseUrl, err);
    });
    try {
      await runMigrations({ runner: pgRunner(client), logger, migrationsDir: opts.migrationsDir });
    } finally {
      // Destroyed, not returned: a session that failed mid-way may still hold the advisory lock.
      client.release(true);
    }
  } catch (err) {
    await pool.end();
    throw err;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  logger.info({ database: describeUrl(databaseUrl) }, 'using PostgreSQL');
  let closing: Promise<void> | undefined;
  const fromUrl = prismaUrlParams(databaseUrl);
  const notifications = postgresNotifications({
    connectionString: fromUrl.connectionString,
    connectTimeoutMs: opts.connectTimeoutMs ?? fromUrl.connectTimeoutMs ?? 5_000,
    notify: (sql, params) => pool.query(sql, params),
  });
  return {
    prisma,
    kind: 'postgres',
    notifications,
    rows: async <T>(sql: Prisma.Sql) => (await pool.query(sql.text, params(sql))).rows as T[],
    async ping() {
      await withTimeout(pool.query('SELECT 1'), PING_TIMEOUT_MS, `PostgreSQL did not answer within ${PING_TIMEOUT_MS} ms`);
    },
    close: () =>
      (closing ??= (async () => {
        await prisma.$disconnect();
        await pool.end();
      })()),
  };
}

async function createPgliteDb(opts: CreateDbOptions): Promise<Db> {
  const { logger } = opts;
  const dir = pgliteDir(opts.dataDir);
  const started = Date.now();
  const handle = await openPglite(dir);
  try {
    await runMigrations({ runner: pgliteRunner(handle.pglite), logger, migrationsDir: opts.migrationsDir });
  } catch (err) {
    await handle.close();
    throw err;
  }
  // The adapter's dispose() does not close PGlite; close() below does.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(handle.pglite) });
  logger.info({ dir: handle.dir, ms: Date.now() - started }, 'using the embedded database (PGlite)');
  let closing: Promise<void> | undefined;
  return {
    prisma,
    kind: 'pglite',
    notifications: pgliteNotifications(handle.pglite),
    rows: async <T>(sql: Prisma.Sql) => (await handle.pglite.query<T>(sql.text, params(sql))).rows,
    async ping() {
      await withTimeout(handle.pglite.query('SELECT 1'), PING_TIMEOUT_MS, `the embedded database did not answer within ${PING_TIMEOUT_MS} ms`);
    },
    close: () =>
      (closing ??= (async () => {
        try {
          await prisma.$disconnect();
        } finally {
          await handle.close();
        }
      })()),
  };
}

/**
 * Runs `fn` on one migration connection to the configured database, then closes it. For the
 * migrate CLI; the server uses createDb.
 */
export async function withMigrationRunner<T>(
  opts: { databaseUrl?: string | undefined; dataDir: string; logger: DbLogger },
  fn: (runner: SqlRunner) => Promise<T>,
): Promise<T> {
  if (opts.databaseUrl) {
    const url = opts.databaseUrl;
    const pool = createPgPool({ url, logger: opts.logger, max: 1 });
    try {
      const client = await pool.connect().catch((err: unknown) => {
        throw connectError(url, err);
      });
      try {
        return await fn(pgRunner(client));
      } finally {
        client.release(true);
      }
    } finally {
      await pool.end();
    }
  }
  const handle = await openPglite(pgliteDir(opts.dataDir));
  try {
    return await fn(pgliteRunner(handle.pglite));
  } finally {
    await handle.close();
  }
}
