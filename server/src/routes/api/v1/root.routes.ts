import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Envelope } from '@suture/shared/schemas';
import { envelopeBytes } from '@suture/shared/trust';
import { notFound } from '../../../lib/errors.ts';
import { errors, sendBytes } from '../../schemas.ts';

/** The root of trust, and the server's online key that roots must name. */
export const rootRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/root',
    {
      config: { permission: 'read' },
      schema: { tags: ['trust'], summary: 'The current root envelope (exact bytes)', response: { 200: Envelope, ...errors(401, 403, 404) } },
    },
    async (_req, reply) => {
      const root = await app.services.roots.current();
      if (!root) throw notFound('no root has been uploaded yet: "suture root publish <root.json>"');
      return sendBytes(reply, root.bytes);
    },
  );

  app.get(
    '/root/:version',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['trust'],
        summary: 'One root version (agents fetch N+1, N+2, ... to rotate)',
        params: Type.Object({ version: Type.Integer({ minimum: 1 }) }),
        response: { 200: Envelope, ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const bytes = await app.services.roots.get(req.params.version);
      if (!bytes) throw notFound(`no root version ${req.params.version}`);
      return sendBytes(reply, bytes);
    },
  );

  app.put(
    '/root',
    {
      schema: {
        tags: ['trust'],
        summary: 'Upload a root: the first is trusted on first use, later ones must be signed by both the old and new root thresholds',
        body: Envelope,
        response: { 200: Type.Object({ version: Type.Integer(), changed: Type.Boolean() }), ...errors(400, 401, 403, 409, 422) },
      },
    },
    async (req) => {
      const result = await app.services.roots.upload(envelopeBytes(req.body));
      req.log.info({ version: result.version, changed: result.changed, by: req.principal?.userId }, 'root uploaded');
      return result;
    },
  );

  app.get(
    '/keys/online',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['trust'],
        summary: "This server's online (manifest) public key, to name in the root",
        response: {
          200: Type.Object({ keytype: Type.Literal('ed25519'), role: Type.Literal('online'), keyid: Type.String(), public: Type.String() }),
          ...errors(401, 403),
        },
      },
    },
    async () => ({ keytype: 'ed25519' as const, role: 'online' as const, keyid: app.onlineKey.keyid, public: app.onlineKey.publicKey }),
  );
};

