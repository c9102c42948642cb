import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors } from '../../schemas.ts';
import { EnrollmentTokenSchema, GroupName } from './views.ts';

/** Enrollment tokens (admin only): how agents join a group. */
export const enrollmentTokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/enrollment-tokens',
    {
      schema: {
        tags: ['agents'],
        summary: 'Create an enrollment token; the secret is returned once and stored only as a hash. Without a group, the group rules place each agent (else the default group)',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            group: Type.Optional(GroupName),
            maxUses: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
            expiresInHours: Type.Integer({ minimum: 1, maximum: 24 * 365 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Intersect([EnrollmentTokenSchema, Type.Object({ token: Type.String() })]), ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const created = await app.services.agents.createEnrollmentToken({ creator: principalOf(req), ...req.body });
      req.log.info({ enrollmentTokenId: created.id, group: created.group, maxUses: created.maxUses }, 'enrollment token created');
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/enrollment-tokens',
    { schema: { tags: ['agents'], summary: 'List enrollment tokens', response: { 200: Type.Object({ items: Type.Array(EnrollmentTokenSchema) }), ...errors(401, 403) } } },
    async () => ({ items: await app.services.agents.listEnrollmentTokens() }),
  );

  app.delete(
    '/enrollment-tokens/:id',
    {
      schema: {
        tags: ['agents'],
        summary: 'Revoke an enrollment token (agents enrolled with it stay enrolled)',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: EnrollmentTokenSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => {
      const t = await app.services.agents.revokeEnrollmentToken(req.params.id);
      req.log.info({ enrollmentTokenId: t.id }, 'enrollment token revoked');
      return t;
    },
  );
};
