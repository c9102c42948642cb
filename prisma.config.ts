// Loaded by the Prisma CLI before anything else. The CLI wants to download its native schema
// engine even for `generate`; pointing it at a stub skips that. Migrations are applied by our
// own runner (server/src/db/migrate.ts), never by `prisma migrate` here.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';

process.env.CHECKPOINT_DISABLE ??= '1';
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(new URL('./scripts/no-schema-engine.sh', import.meta.url));

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
});
