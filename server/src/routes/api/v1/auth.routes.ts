import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unauthorized } from '../../../lib/errors.ts';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors } from '../../schemas.ts';
import { Password, PermissionSchema, RoleSchema, UserSchema, Username } from './views.ts';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/auth/login',
    {
      config: {
        public: true,
        rateLimit: {
          max: app.config.loginRateLimitPerMinute,
          timeWindow: '1 minute',
          hook: 'preHandler', // after body parsing, so the key can include the username
          // Per client address and per account, so neither spraying nor guessing one account scales.
          keyGenerator: (req) => `${req.ip}|${String((req.body as { username?: unknown } | undefined)?.username ?? '')}`,
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for a short-lived session token',
        security: [],
        body: Type.Object({ username: Username, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String(), user: UserSchema }), ...errors(400, 401, 429) },
      },
    },
    async (req) => {
      const user = await app.services.users.authenticate(req.body);
      if (!user) {
        req.log.info({ username: req.body.username }, 'login failed');
        throw unauthorized('wrong username or password');
      }
      req.log.info({ userId: user.id }, 'login');
      return { ...app.services.sessions.issue(user), user };
    },
  );

  app.get(
    '/auth/me',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['auth'],
        summary: 'Who the caller is and what it may do',
        response: {
          200: Type.Object({
            userId: Type.String(),
            username: Type.String(),
            role: RoleSchema,
            via: Type.Union([Type.Literal('session'), Type.Literal('token')]),
            permissions: Type.Array(PermissionSchema),
          }),
          ...errors(401, 403),
        },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return { userId: p.userId, username: p.username, role: p.role, via: p.via, permissions: [...p.permissions] };
    },
  );
};
