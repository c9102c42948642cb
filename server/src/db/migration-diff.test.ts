import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { pgliteRunner, runMigrations } from './migrate.ts';
import { diffMigrationsToSchema, loadSchemaEngine, migrationList, pgliteAdapter, readSchema } from './migration-diff.ts';

const quiet = { info() {}, warn() {}, error() {} };
const noFilters = { externalTables: [], externalEnums: [] };

test('prisma/migrations is up to date with schema.prisma', async () => {
  const missing = await diffMigrationsToSchema();
  assert.equal(
    missing,
    '',
    `schema.prisma changed without a migration; generate one with \`cd server && npx tsx src/db/migration-diff.ts --name <what_changed>\`:\n${missing}`,
  );
});

test("Prisma's own engine accepts a database migrated by our runner", async () => {
  const db = await PGlite.create();
  try {
    await runMigrations({ runner: pgliteRunner(db), logger: quiet });
    const { engine, close } = await loadSchemaEngine({ schema: await readSchema(), connect: () => pgliteAdapter(db, { closeOnDispose: false }) });
    try {
      const migrationsList = await migrationList();
      const diagnosis = await engine.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: noFilters });
      assert.deepEqual(diagnosis, { editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null });
      assert.deepEqual(await engine.applyMigrations({ migrationsList, filters: noFilters }), { appliedMigrationNames: [] });
    } finally {
      await close();
    }
  } finally {
    await db.close();
  }
});
