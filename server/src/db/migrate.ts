/**
 * Our own migration runner, compatible with `prisma migrate deploy`: the same folder layout
 * (prisma/migrations/<timestamp>_<name>/migration.sql), the same `_prisma_migrations` table and
 * checksums, the same advisory lock. Prisma's CLI cannot run here (it needs its native schema
 * engine), but a database migrated by this runner can later be handed to it unchanged.
 *
 * Differences from Prisma, on purpose: each migration runs inside one transaction (unless the
 * script has its own BEGIN/COMMIT), so a failure leaves the schema as it was; and an applied
 * migration whose file has changed stops the run instead of being ignored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientBase } from 'pg';
import type { PGlite } from '@electric-sql/pglite';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url));
/** The key Prisma's schema engine locks on PostgreSQL while it migrates. */
export const ADVISORY_LOCK_ID = 72707369;
export const MIGRATIONS_TABLE = '_prisma_migrations';

type LogFn = (obj: object, msg?: string) => void;
/** What the db module logs through: a pino logger (or child) fits. */
export interface DbLogger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** The DDL of Prisma's schema engine (postgres flavour), made idempotent. */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export type MigrationErrorCode =
  | 'failed-migration'
  | 'modified-migration'
  | 'migration-failed'
  | 'lock-timeout'
  | 'bad-migrations-dir'
  | 'no-such-failed-migration';

export class MigrationError extends Error {
  readonly code: MigrationErrorCode;
  constructor(code: MigrationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
    this.code = code;
  }
}

/** One connection to run migrations on. `exec` sends a script as one simple-protocol query. */
export interface SqlRunner {
  kind: 'postgres' | 'pglite';
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  exec(script: string): Promise<void>;
}

export function pgRunner(client: ClientBase): SqlRunner {
  return {
    kind: 'postgres',
    query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[],
    exec: async (script) => {
      await client.query(script);
    },
  };
}

export function pgliteRunner(db: Pick<PGlite, 'query' | 'exec'>): SqlRunner {
  return {
    kind: 'pglite',
    query: async <R>(sql: string, params?: unknown[]) => (await db.query<R>(sql, params)).rows,
    exec: async (script) => {
      await db.exec(script);
    },
  };
}

export interface MigrationFolder {
  name: string;
  sql: string;
  checksum: string;
}

/** Prisma's checksum: sha256 of the file, lower-case hex. */
export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

/**
 * Whether a file matches a recorded checksum, accepting what Prisma accepts: the file with
 * LF or CRLF line ends (a Windows checkout), and the unpadded hex of early Prisma versions.
 */
export function checksumMatches(sql: string, recorded: string): boolean {
  const variants = [sql, sql.replace(/\r\n/g, '\n'), sql.replace(/\r?\n/g, '\r\n')];
  return variants.some((s) => {
    const digest = createHash('sha256').update(s, 'utf8').digest();
    const hex = recorded.length === 64 ? digest.toString('hex') : [...digest].map((b) => b.toString(16)).join('');
    return hex === recorded;
  });
}

/** The migration folders in the order Prisma applies them (by name). */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFolder[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new MigrationError('bad-migrations-dir', `cannot read the migrations folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const lock = entries.find((e) => e.isFile() && e.name === 'migration_lock.toml');
  if (lock) {
    const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(await readFile(join(dir, lock.name), 'utf8'))?.[1];
    if (provider && provider !== 'postgresql') {
      throw new MigrationError('bad-migrations-dir', `${join(dir, lock.name)} says provider "${provider}"; these migrations are not for PostgreSQL`);
    }
  }
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name, 'migration.sql');
      const sql = await readFile(file, 'utf8').catch((err: Error) => {
        throw new MigrationError('bad-migrations-dir', `migration folder ${name} has no readable migration.sql (${err.message})`, { cause: err });
      });
      return { name, sql, checksum: checksumOf(sql) };
    }),
  );
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  started_at: Date | string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
  logs: string | null;
}

export interface RunMigrationsOptions {
  runner: SqlRunner;
  logger: DbLogger;
  migrationsDir?: string;
  /** How long to wait for another process that holds the migration lock (PostgreSQL). */
  lockTimeoutMs?: number;
}

/** Applies every migration folder not yet applied, in order. Safe to call on every start. */
export async function runMigrations(opts: RunMigrationsOptions): Promise<{ applied: string[] }> {
  const { runner, logger } = opts;
  const migrations = await readMigrations(opts.migrationsDir);
  if (runner.kind === 'postgres') await acquireLock(runner, opts.lockTimeoutMs ?? 60_000, logger);
  try {
    await runner.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await runner.query<MigrationRow>(
      `SELECT id, checksum, migration_name, started_at, finished_at, rolled_back_at, logs FROM "${MIGRATIONS_TABLE}" ORDER BY started_at`,
    );
    const pending = checkHistory(migrations, rows, logger);
    const applied: string[] = [];
    for (const migration of pending) {
      await applyOne(runner, migration, logger);
      applied.push(migration.name);
    }
    if (applied.length === 0) logger.info({ migrations: migrations.length }, 'database schema is up to date');
    else logger.info({ applied }, `applied ${applied.length} migration(s)`);
    return { applied };
  } finally {
    if (runner.kind === 'postgres') await runner.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_ID]).catch(() => {});
  }
}

async function acquireLock(runner: SqlRunner, timeoutMs: number, logger: DbLogger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  for (;;) {
    const [row] = await runner.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCK_ID]);
    if (row?.locked) return;
    if (Date.now() >= deadline) {
      throw new MigrationError(
        'lock-timeout',
        `another process has been applying migrations for over ${timeoutMs / 1000}s (it holds advisory lock ${ADVISORY_LOCK_ID}); ` +
          `wait for it to finish, or find it with: SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ${ADVISORY_LOCK_ID}`,
      );
    }
    if (!warned) logger.warn({ lock: ADVISORY_LOCK_ID }, 'another process is applying migrations; waiting for it');
    warned = true;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Refuses a history Prisma would call broken; returns the folders still to apply. */
function checkHistory(migrations: MigrationFolder[], rows: MigrationRow[], logger: DbLogger): MigrationFolder[] {
  const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed) {
    const why = failed.logs?.split('\n')[0] ?? 'no log recorded';
    throw new MigrationError(
      'failed-migration',
      `migration ${failed.migration_name} failed earlier (${why}) and blocks further migrations. ` +
        `It ran in a transaction, so nothing of it was applied unless its script commits by itself. ` +
        `Fix the migration or the data, then mark it rolled back with ` +
        `\`pnpm --filter @suture/server migrate --rolled-back ${failed.migration_name}\` ` +
        `(or \`prisma migrate resolve --rolled-back ${failed.migration_name}\`) and migrate again.`,
    );
  }
  const byName = new Map(migrations.map((m) => [m.name, m]));
  const applied = new Set<string>();
  for (const row of rows) {
    if (row.rolled_back_at !== null) continue;
    applied.add(row.migration_name);
    const local = byName.get(row.migration_name);
    if (!local) {
      logger.warn({ migration: row.migration_name }, 'the database has a migration that is not in the migrations folder (a newer version ran here?)');
    } else if (!checksumMatches(local.sql, row.checksum)) {
      throw new MigrationError(
        'modified-migration',
        `migration ${row.migration_name} was modified after it was applied (checksum ${row.checksum} in the database, ${local.checksum} on disk). ` +
          `Never edit an applied migration: restore prisma/migrations/${row.migration_name}/migration.sql from version control ` +
          `and put the change in a new migration.`,
      );
    }
  }
  return migrations.filter((m) => !applied.has(m.name));
}

/** A script with its own BEGIN/COMMIT (as Prisma writes for some enum changes) cannot be nested. */
const OWN_TRANSACTION = /^\s*(BEGIN|COMMIT|START\s+TRANSACTION)(\s+(WORK|TRANSACTION))?\s*;/im;

async function applyOne(runner: SqlRunner, migration: MigrationFolder, logger: DbLogger): Promise<void> {
  const id = randomUUID();
  const started = Date.now();
  // Recorded before the script runs, as Prisma does: a crash mid-way leaves a visible failed row.
  await runner.query(
    `INSERT INTO "${MIGRATIONS_TABLE}" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
    [id, migration.checksum, migration.name],
  );
  const wrap = !OWN_TRANSACTION.test(migration.sql);
  if (!wrap) logger.warn({ migration: migration.name }, 'migration manages its own transaction; running it unwrapped');
  try {
    if (wrap) await runner.exec('BEGIN');
    await runner.exec(migration.sql);
    await runner.query(`UPDATE "${MIGRATIONS_TABLE}" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
    if (wrap) await runner.exec('COMMIT');
  } catch (err) {
    if (wrap) await runner.exec('ROLLBACK').catch(() => {});
    const message = (err as Error).message;
    await runner
      .query(`UPDATE "${MIGRATIONS_TABLE}" SET logs = $2 WHERE id = $1`, [id, `${message}\n\nMigration name: ${migration.name}`])
      .catch(() => {});
    logger.error({ migration: migration.name, err }, 'migration failed');
    throw new MigrationError(
      'migration-failed',
      `migration ${migration.name} failed: ${message}. ` +
        `Fix it, mark it rolled back (\`pnpm --filter @suture/server migrate --rolled-back ${migration.name}\`) and migrate again.`,
      { cause: err },
    );
  }
  logger.info({ migration: migration.name, ms: Date.now() - started }, 'applied migration');
}

/** `prisma migrate resolve --rolled-back <name>`: lets a failed migration be applied again. */
export async function markRolledBack(opts: { runner: SqlRunner; name: string }): Promise<void> {
  await opts.runner.exec(CREATE_MIGRATIONS_TABLE);
  const rows = await opts.runner.query<{ id: string }>(
    `UPDATE "${MIGRATIONS_TABLE}" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL RETURNING id`,
    [opts.name],
  );
  if (rows.length === 0) throw new MigrationError('no-such-failed-migration', `no failed migration named ${opts.name} in the database`);
}
