import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../../../lib/errors.ts';
import { Cursor, errors, page } from '../../schemas.ts';
import { Password, RoleSchema, UserSchema, Username } from './views.ts';

/** User administration: admins only (the default permission). */
export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        body: Type.Object({ username: Username, password: Password, role: RoleSchema }, { additionalProperties: false }),
        response: { 201: UserSchema, ...errors(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.status(201).send(await app.services.users.create(req.body)),
  );

  app.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'List users (cursor: username)',
        querystring: Cursor,
        response: { 200: Type.Object({ items: Type.Array(UserSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(401, 403) },
      },
    },
    async (req) => {
      const items = await app.services.users.list({ after: req.query.after, limit: req.query.limit });
      return page(items, req.query.limit, (u) => u.username);
    },
  );

  app.post(
    '/users/:id/disable',
    {
      schema: {
        tags: ['users'],
        summary: 'Disable a user: their sessions and API tokens stop working at once',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: UserSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => {
      if (!(await app.services.users.get(req.params.id))) throw notFound(`no user ${req.params.id}`);
      const user = await app.services.users.disable(req.params.id);
      app.services.tokens.invalidate();
      return user;
    },
  );
};
