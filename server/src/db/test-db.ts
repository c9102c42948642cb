/**
 * Test helpers: a fresh, uniquely named PostgreSQL database per test (or suite), dropped after.
 * The server to create it on comes from TEST_DATABASE_URL (default: the local PostgreSQL).
 * Tests only; nothing in src/ imports this.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DbKind } from './index.ts';

export const DEFAULT_TEST_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/test';

export function testDatabaseBaseUrl(): string {
  return process.env.TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
}

/** Which databases to test on: env SUTURE_TEST_DB=pglite|postgres|both (default both). */
export function testDbKinds(): DbKind[] {
  const v = process.env.SUTURE_TEST_DB || 'both';
  if (v === 'both') return ['postgres', 'pglite'];
  if (v === 'postgres' || v === 'pglite') return [v];
  throw new Error(`SUTURE_TEST_DB must be pglite, postgres or both, not "${v}"`);
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const base = testDatabaseBaseUrl();
  const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`tests need PostgreSQL at ${base} (set TEST_DATABASE_URL, or SUTURE_TEST_DB=pglite to skip it): ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database, ending any connection still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** Creates `suture_test_<random>` on the test server and returns its URL. */
export async function createTestDatabaseUrl(): Promise<TestDatabase> {
  const name = `suture_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(testDatabaseBaseUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop: () =>
      (dropped ??= withAdmin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      })),
  };
}

/** A fresh empty data dir (for PGlite) under the OS temp dir. */
export async function createTestDataDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'suture-test-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Runs `fn` with the options createDb needs for a fresh database of `kind`, then cleans up:
 * `withTestDatabase('postgres', (o) => createDb({ ...o, logger }))`.
 */
export async function withTestDatabase<T>(kind: DbKind, fn: (opts: { databaseUrl: string | undefined; dataDir: string }) => Promise<T>): Promise<T> {
  const data = await createTestDataDir();
  const pgDb = kind === 'postgres' ? await createTestDatabaseUrl() : undefined;
  try {
    return await fn({ databaseUrl: pgDb?.url, dataDir: data.dir });
  } finally {
    await pgDb?.drop();
    await data.remove();
  }
}
