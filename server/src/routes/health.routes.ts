import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from './schemas.ts';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: { tags: ['health'], summary: 'The process is alive', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'The database is reachable',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready'), database: Type.String() }), ...errors(503) },
      },
    },
    async (req, reply) => {
      try {
        await app.db.ping();
        return { status: 'ready' as const, database: app.db.kind };
      } catch (err) {
        req.log.warn({ err: { message: (err as Error).message } }, 'readiness check failed');
        return reply
          .status(503)
          .header('retry-after', '5')
          .send({ error: { code: 'database-unavailable', message: 'the database is not reachable', requestId: req.id } });
      }
    },
  );

  app.get(
    '/metrics',
    {
      config: { permission: 'read' },
      schema: { tags: ['health'], summary: 'Prometheus metrics (needs a token with the read scope)', response: { 200: Type.String(), ...errors(401, 403) } },
    },
    async (_req, reply) => {
      reply.type(app.metrics.registry.contentType);
      return app.metrics.registry.metrics();
    },
  );
};
