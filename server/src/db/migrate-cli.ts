/**
 * pnpm --filter @suture/server migrate [--rolled-back <migration_name>]
 *
 * Applies prisma/migrations to DATABASE_URL if set, else to the embedded PGlite database in
 * SUTURE_DATA_DIR (default `.data`, relative to the directory pnpm was started from).
 * `--rolled-back <name>` marks a failed migration rolled back (as `prisma migrate resolve
 * --rolled-back` does) so that the next run applies it again.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { withMigrationRunner } from './index.ts';
import { markRolledBack, runMigrations } from './migrate.ts';

const logger = pino({ name: 'migrate', level: process.env.LOG_LEVEL ?? 'info' });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'rolled-back': { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('DATABASE_URL must start with postgresql:// (or be unset to use the embedded database)');
  }
  // `pnpm --filter` runs us inside server/; INIT_CWD is where the user typed the command.
  const dataDir = resolve(process.env.INIT_CWD ?? process.cwd(), process.env.SUTURE_DATA_DIR || '.data');
  logger.info(databaseUrl ? { database: 'postgres' } : { database: 'pglite', dataDir }, 'migrating');
  await withMigrationRunner({ databaseUrl, dataDir, logger }, async (runner) => {
    const name = values['rolled-back'];
    if (name) {
      await markRolledBack({ runner, name });
      logger.info({ migration: name }, 'marked rolled back; run migrate again to apply it');
    } else {
      await runMigrations({ runner, logger });
    }
  });
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    logger.error({ code: (err as { code?: unknown }).code }, err.message);
    process.exit(1);
  },
);
