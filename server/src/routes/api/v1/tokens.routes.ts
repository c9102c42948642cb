import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors } from '../../schemas.ts';
import { PermissionSchema, TokenSchema } from './views.ts';

/** API tokens: anyone with `read` manages their own; admins see and revoke all. */
export const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/tokens',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; the secret is returned once and stored only as a hash',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            scopes: Type.Array(PermissionSchema, { minItems: 1, maxItems: 3 }),
            expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Intersect([TokenSchema, Type.Object({ token: Type.String() })]), ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const created = await app.services.tokens.create({ owner: principalOf(req), ...req.body });
      req.log.info({ tokenId: created.id, scopes: created.scopes }, 'api token created');
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/tokens',
    {
      config: { permission: 'read' },
      schema: { tags: ['tokens'], summary: 'List API tokens', response: { 200: Type.Object({ items: Type.Array(TokenSchema) }), ...errors(401, 403) } },
    },
    async (req) => ({ items: await app.services.tokens.list({ viewer: principalOf(req) }) }),
  );

  app.delete(
    '/tokens/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: TokenSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => {
      const t = await app.services.tokens.revoke({ viewer: principalOf(req), id: req.params.id });
      req.log.info({ tokenId: t.id }, 'api token revoked');
      return t;
    },
  );
};
