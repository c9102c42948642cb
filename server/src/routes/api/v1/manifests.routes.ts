import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Envelope, Sha256Hex } from '@suture/shared/schemas';
import { notFound } from '../../../lib/errors.ts';
import { errors, sendBytes } from '../../schemas.ts';

const MAX_BATCH = 2000;

/** Online-signed manifests, keyed by module sha256. */
export const manifestRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/manifests/:sha256',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['manifests'],
        summary: 'The signed manifest for one module',
        params: Type.Object({ sha256: Sha256Hex }),
        response: { 200: Envelope, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const bytes = await app.services.manifests.get(req.params.sha256);
      if (!bytes) throw notFound(`no patches have been published for module ${req.params.sha256}`);
      app.metrics.manifestsServed.inc();
      return sendBytes(reply, bytes);
    },
  );

  app.post(
    '/manifests/batch',
    {
      config: { permission: 'read', audit: false },
      bodyLimit: 256 * 1024,
      schema: {
        tags: ['manifests'],
        summary: 'Manifests for the modules an agent has loaded; modules without patches are absent',
        body: Type.Object({ modules: Type.Array(Sha256Hex, { maxItems: MAX_BATCH }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ manifests: Type.Record(Sha256Hex, Type.String({ description: 'the envelope JSON, exact bytes' })) }),
          ...errors(400, 401, 403, 409, 413),
        },
      },
    },
    async (req, reply) => {
      const found = await app.services.manifests.batch(req.body.modules);
      app.metrics.manifestsServed.inc(found.size);
      // Hot path for every agent: the body is assembled directly (sha256 keys need no escaping).
      const parts: string[] = [];
      for (const [sha, bytes] of found) parts.push(`"${sha}":${JSON.stringify(Buffer.from(bytes).toString('utf8'))}`);
      return reply.type('application/json').send(`{"manifests":{${parts.join(',')}}}` as never);
    },
  );
};
