import assert from 'node:assert/strict';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  checksumMatches,
  checksumOf,
  markRolledBack,
  MigrationError,
  MIGRATIONS_DIR,
  pgliteRunner,
  pgRunner,
  readMigrations,
  runMigrations,
  type DbLogger,
  type SqlRunner,
} from './migrate.ts';
import { openPglite } from './pglite.ts';
import { createTestDatabaseUrl, createTestDataDir, testDbKinds } from './test-db.ts';

function memoryLogger(): DbLogger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** A fresh database of `kind` and an SqlRunner on it, closed and removed by cleanup(). */
async function freshRunner(kind: 'postgres' | 'pglite'): Promise<{ runner: SqlRunner; cleanup(): Promise<void> }> {
  const data = await createTestDataDir();
  if (kind === 'pglite') {
    const handle = await openPglite(join(data.dir, 'pglite'));
    return { runner: pgliteRunner(handle.pglite), cleanup: async () => (await handle.close(), await data.remove()) };
  }
  const db = await createTestDatabaseUrl();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  return { runner: pgRunner(client), cleanup: async () => (await client.end(), await db.drop(), await data.remove()) };
}

async function writeMigrations(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(join(dir, name), { recursive: true });
    await writeFile(join(dir, name, 'migration.sql'), sql);
  }
}

const tableExists = async (runner: SqlRunner, table: string) =>
  (await runner.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`"${table}"`]))[0]?.t != null;

test('checksums are sha256 hex, and match across LF / CRLF checkouts', () => {
  assert.equal(checksumOf('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.ok(checksumMatches('a;\r\nb;\r\n', checksumOf('a;\nb;\n')));
  assert.ok(checksumMatches('a;\nb;\n', checksumOf('a;\r\nb;\r\n')));
  assert.ok(!checksumMatches('a;\nc;\n', checksumOf('a;\nb;\n')));
});

test('the repository migrations are readable, in order, with a PostgreSQL lock file', async () => {
  const migrations = await readMigrations();
  assert.ok(migrations.length >= 1);
  assert.deepEqual(migrations.map((m) => m.name), migrations.map((m) => m.name).sort());
  assert.match(await readFile(join(MIGRATIONS_DIR, 'migration_lock.toml'), 'utf8'), /^provider = "postgresql"$/m);
});

for (const kind of testDbKinds()) {
  describe(`migrations on ${kind}`, () => {
    let db: Awaited<ReturnType<typeof freshRunner>>;
    let scratch: Awaited<ReturnType<typeof createTestDataDir>>;
    before(async () => {
      scratch = await createTestDataDir();
    });
    after(async () => {
      await scratch.remove();
    });

    test('applies the repository migrations once; a second run applies nothing', async () => {
      db = await freshRunner(kind);
      try {
        const logger = memoryLogger();
        const all = (await readMigrations()).map((m) => m.name);
        assert.deepEqual((await runMigrations({ runner: db.runner, logger })).applied, all);
        assert.ok(await tableExists(db.runner, 'User'));
        assert.ok(await tableExists(db.runner, 'Manifest'));
        const rows = await db.runner.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number; logs: string | null }>(
          'SELECT migration_name, checksum, finished_at, applied_steps_count, logs FROM "_prisma_migrations" ORDER BY migration_name',
        );
        const files = await readMigrations();
        assert.deepEqual(
          rows.map((r) => [r.migration_name, r.checksum, r.finished_at !== null, r.applied_steps_count, r.logs]),
          files.map((f) => [f.name, checksumOf(f.sql), true, 1, null]),
        );
        assert.ok(logger.lines.some((l) => l.level === 'info' && (l.obj as { migration?: string }).migration === all[0]));

        const again = memoryLogger();
        assert.deepEqual((await runMigrations({ runner: db.runner, logger: again })).applied, []);
        assert.ok(again.lines.some((l) => l.msg === 'database schema is up to date'));
        assert.equal((await db.runner.query('SELECT 1 FROM "_prisma_migrations"')).length, all.length);
      } finally {
        await db.cleanup();
      }
    });

    test('refuses to go on when an applied migration was edited', async () => {
      const dir = join(scratch.dir, 'edited');
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      db = await freshRunner(kind);
      try {
        await runMigrations({ runner: db.runner, logger: memoryLogger(), migrationsDir: dir });
        const [first] = await readMigrations(dir);
        await writeFile(join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- an edit\n`);
        await assert.rejects(runMigrations({ runner: db.runner, logger: memoryLogger(), migrationsDir: dir }), (err: MigrationError) => {
          assert.equal(err.code, 'modified-migration');
          assert.match(err.message, new RegExp(`${first!.name} was modified.*restore`));
          return true;
        });
        // A CRLF checkout of the same file is not an edit.
        await writeFile(join(dir, first!.name, 'migration.sql'), first!.sql.replace(/\n/g, '\r\n'));
        assert.deepEqual((await runMigrations({ runner: db.runner, logger: memoryLogger(), migrationsDir: dir })).applied, []);
      } finally {
        await db.cleanup();
      }
    });

    test('a failing migration is rolled back, recorded, and blocks until marked rolled back', async () => {
      const dir = join(scratch.dir, 'failing');
      await writeMigrations(dir, {
        '1_ok': 'CREATE TABLE "a" ("id" INTEGER PRIMARY KEY);',
        '2_bad': 'CREATE TABLE "b" ("id" INTEGER PRIMARY KEY);\nINSERT INTO "a" VALUES (1);\nSELECT 1 / 0;',
      });
      db = await freshRunner(kind);
      try {
        const logger = memoryLogger();
        await assert.rejects(runMigrations({ runner: db.runner, logger, migrationsDir: dir }), (err: MigrationError) => {
          assert.equal(err.code, 'migration-failed');
          assert.match(err.message, /2_bad failed: division by zero/);
          return true;
        });
        assert.ok(logger.lines.some((l) => l.level === 'error'));
        assert.ok(await tableExists(db.runner, 'a'));
        assert.ok(!(await tableExists(db.runner, 'b')), 'the failed migration left a table behind');
        assert.equal((await db.runner.query('SELECT 1 FROM "a"')).length, 0);
        const [row] = await db.runner.query<{ finished_at: Date | null; logs: string }>(
          `SELECT finished_at, logs FROM "_prisma_migrations" WHERE migration_name = '2_bad'`,
        );
        assert.equal(row?.finished_at, null);
        assert.match(row!.logs, /division by zero/);

        await assert.rejects(runMigrations({ runner: db.runner, logger: memoryLogger(), migrationsDir: dir }), (err: MigrationError) => {
          assert.equal(err.code, 'failed-migration');
          assert.match(err.message, /2_bad failed earlier.*--rolled-back 2_bad/);
          return true;
        });

        await writeFile(join(dir, '2_bad', 'migration.sql'), 'CREATE TABLE "b" ("id" INTEGER PRIMARY KEY);');
        await markRolledBack({ runner: db.runner, name: '2_bad' });
        await assert.rejects(markRolledBack({ runner: db.runner, name: '2_bad' }), /no failed migration named 2_bad/);
        assert.deepEqual((await runMigrations({ runner: db.runner, logger: memoryLogger(), migrationsDir: dir })).applied, ['2_bad']);
        assert.ok(await tableExists(db.runner, 'b'));
      } finally {
        await db.cleanup();
      }
    });

    test('sends each migration as one query ($$ bodies with semicolons survive)', async () => {
      const dir = join(scratch.dir, 'dollar');
      await writeMigrations(dir, {
        '1_fn': `CREATE FUNCTION "twice"(x INTEGER) RETURNS INTEGER AS $$
DECLARE y INTEGER;
BEGIN
  y := x * 2;
  RETURN y;
END;
$$ LANGUAGE plpgsql;`,
      });
      db = await freshRunner(kind);
      try {
        const logger = memoryLogger();
        await runMigrations({ runner: db.runner, logger, migrationsDir: dir });
        assert.deepEqual(await db.runner.query('SELECT "twice"(21) AS v'), [{ v: 42 }]);
        assert.deepEqual(logger.lines.filter((l) => l.level !== 'info'), [], 'a plpgsql BEGIN is not a transaction');
      } finally {
        await db.cleanup();
      }
    });

    test('runs a script that has its own BEGIN/COMMIT (as Prisma writes for enum changes) unwrapped', async () => {
      const dir = join(scratch.dir, 'own-tx');
      await writeMigrations(dir, {
        '1_enum': `CREATE TYPE "Color" AS ENUM ('red', 'green', 'blue');`,
        '2_alter_enum': `-- AlterEnum
BEGIN;
CREATE TYPE "Color_new" AS ENUM ('red', 'green');
ALTER TYPE "Color" RENAME TO "Color_old";
ALTER TYPE "Color_new" RENAME TO "Color";
DROP TYPE "public"."Color_old";
COMMIT;
`,
      });
      db = await freshRunner(kind);
      try {
        const logger = memoryLogger();
        assert.deepEqual((await runMigrations({ runner: db.runner, logger, migrationsDir: dir })).applied, ['1_enum', '2_alter_enum']);
        assert.ok(logger.lines.some((l) => l.level === 'warn' && /own transaction/.test(l.msg ?? '')));
        assert.deepEqual(await db.runner.query(`SELECT enum_range(NULL::"Color")::text AS v`), [{ v: '{red,green}' }]);
      } finally {
        await db.cleanup();
      }
    });

    if (kind === 'postgres') {
      test('concurrent runners serialize on the advisory lock and apply each migration once', async () => {
        const target = await createTestDatabaseUrl();
        const clients = [new pg.Client({ connectionString: target.url }), new pg.Client({ connectionString: target.url })];
        try {
          await Promise.all(clients.map((c) => c.connect()));
          const results = await Promise.all(clients.map((c) => runMigrations({ runner: pgRunner(c), logger: memoryLogger() })));
          const all = (await readMigrations()).map((m) => m.name);
          assert.deepEqual(results.flatMap((r) => r.applied).sort(), all);
          const { rows } = await clients[0]!.query('SELECT 1 FROM "_prisma_migrations"');
          assert.equal(rows.length, all.length);
        } finally {
          await Promise.all(clients.map((c) => c.end()));
          await target.drop();
        }
      });
    }
  });
}
