import pino from 'pino';
import { ConfigError, loadConfig } from './config.ts';
import { buildApp } from './app.ts';
import { loggerOptions } from './lib/logger.ts';

/** The process: configuration, logger, listen, signals, graceful close. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`suture-server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino(loggerOptions(config.logLevel));
  const app = await buildApp({ config, logger });
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
    await app.close();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // A deep accept queue: after a restart every agent of the fleet reconnects within seconds.
  const address = await app.listen({ host: config.host, port: config.port, backlog: 4096 });
  const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}/pglite`;
  logger.info({ address, database: app.db.kind }, `Suture server listening on ${address} (database: ${where}); API docs at ${address}/docs`);
}

main().catch((err) => {
  process.stderr.write(`suture-server failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
