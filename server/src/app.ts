import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import { MAX_MESSAGE_BYTES } from '@suture/shared/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { KeyPair } from '@suture/shared/trust';
import type { Config } from './config.ts';
import { createDb, type Db } from './db/index.ts';
import { createAgentHub, type AgentHub } from './lib/agent-hub.ts';
import { AGENT_CHANNEL, createAgentPush, type AgentPush } from './lib/agent-push.ts';
import { createFleetScheduler } from './lib/fleet-scheduler.ts';
import { createCoverageSampler, type CoverageSampler } from './lib/coverage-sampler.ts';
import { createPgListener, type PgListener } from './lib/pg-listener.ts';
import { createSiemDelivery, type SiemDelivery } from './lib/siem-delivery.ts';
import { loadJwtSecret, loadOnlineKey } from './lib/secrets.ts';
import { auditPlugin } from './plugins/audit.plugin.ts';
import { authPlugin } from './plugins/auth.plugin.ts';
import { docsPlugin } from './plugins/docs.plugin.ts';
import { errorsPlugin } from './plugins/errors.plugin.ts';
import { metricsPlugin } from './plugins/metrics.plugin.ts';
import { readRateLimitPlugin } from './plugins/read-rate-limit.plugin.ts';
import { webPlugin } from './plugins/web.plugin.ts';
import { routes } from './routes/index.ts';
import { createServices, type Services } from './services/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Db;
    services: Services;
    onlineKey: KeyPair;
    agentHub: AgentHub;
    agentPush: AgentPush;
    listener: PgListener;
    scheduler: ReturnType<typeof createFleetScheduler>;
    siem: SiemDelivery;
    coverageSampler: CoverageSampler;
  }
}

const SERVER_VERSION = '0.1.0';
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Builds the whole server as one Fastify instance: the database (migrated), services, plugins
 * and routes. The entry file (server.ts) only owns the process.
 */
export async function buildApp(opts: { config: Config; logger: Logger }): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    trustProxy: config.trustProxy,
    bodyLimit: 2 * 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: opts.logger.child({ component: 'db' }) });
  app.addHook('onClose', async () => db.close());
  const { key: onlineKey, created } = await loadOnlineKey(config.onlineKeyFile);
  if (created) opts.logger.info({ keyid: onlineKey.keyid, file: config.onlineKeyFile }, 'generated the online manifest key; name it in the root');
  const jwtSecret = await loadJwtSecret({ configured: config.jwtSecret, dataDir: config.dataDir });

  app.decorate('config', config);
  app.decorate('db', db);
  app.decorate('onlineKey', onlineKey);
  app.decorate('services', createServices({ db, config, jwtSecret, onlineKey }));
  // Before the database closes (hooks run last-added first): what the sockets queued is stored.
  app.addHook('onClose', async () => app.services.ingest.drain());
  const agentHub = createAgentHub();
  app.decorate('agentHub', agentHub);
  app.addHook('preClose', async () => agentHub.closeAll());
  // Replicas tell each other what changed through LISTEN/NOTIFY; the sweep catches what a
  // lost notification (or a LISTEN being reconnected) missed.
  const agentPush = createAgentPush({ hub: agentHub, desired: app.services.desired, operations: app.services.operations, notifications: db.notifications, log: opts.logger.child({ component: 'agent-push' }) });
  app.decorate('agentPush', agentPush);
  const listener = createPgListener({ notifications: db.notifications, channel: AGENT_CHANNEL, onPayload: agentPush.onPayload, onConnected: agentPush.sweep, log: opts.logger.child({ component: 'listener' }) });
  app.decorate('listener', listener);
  await listener.start();
  app.addHook('onClose', async () => listener.stop());
  const sweep = agentPush.startSweep({ everyMs: config.agentSweepSeconds * 1000 });
  app.addHook('onClose', async () => sweep.stop());
  const scheduler = createFleetScheduler({
    desired: app.services.desired,
    rollouts: app.services.rollouts,
    push: async (groups) => void (await Promise.all(groups.map((group) => agentPush.desiredChanged(group)))),
    everyMs: 2000,
    log: opts.logger.child({ component: 'scheduler' }),
  });
  scheduler.start();
  app.decorate('scheduler', scheduler);
  app.addHook('onClose', async () => scheduler.stop());
  const siem = createSiemDelivery({ sinks: app.services.siemSinks, logger: opts.logger.child({ component: 'siem' }), productVersion: SERVER_VERSION, enabled: config.siemDelivery });
  app.decorate('siem', siem);
  void siem.start();
  app.addHook('onClose', async () => siem.stop());
  const coverageSampler = createCoverageSampler({ coverage: app.services.coverage, periodSeconds: config.coverageSampleSeconds, log: opts.logger.child({ component: 'coverage-sampler' }) });
  coverageSampler.start();
  app.decorate('coverageSampler', coverageSampler);
  app.addHook('onClose', async () => coverageSampler.stop());
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  await app.register(errorsPlugin);
  await app.register(metricsPlugin);
  await app.register(rateLimit, { global: false });
  await app.register(websocket, { options: { maxPayload: MAX_MESSAGE_BYTES } });
  await app.register(docsPlugin);
  await app.register(authPlugin);
  await app.register(readRateLimitPlugin);
  await app.register(auditPlugin);
  await app.register(routes);
  await app.register(webPlugin);
  return app;
}
