import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Cursor, errors, page } from '../../schemas.ts';
import { AgentDetailSchema, AgentEventSchema, AgentSchema, GroupName, Tag } from './views.ts';

const Hostname = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Secret = Type.String({ minLength: 20, maxLength: 200 });
const enrollLimit = (app: { config: { loginRateLimitPerMinute: number } }) => ({ max: app.config.loginRateLimitPerMinute * 6, timeWindow: '1 minute' });

/** Agents: enrollment and sessions (authenticated by their own secrets), and the fleet list. */
export const agentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/agents/enroll',
    {
      config: { public: true, rateLimit: enrollLimit(app) },
      schema: {
        tags: ['agents'],
        summary: 'Exchange an enrollment token, once, for this agent\'s own credential and the root to pin',
        security: [],
        body: Type.Object(
          {
            token: Secret,
            hostname: Hostname,
            os: Type.Union([Type.Literal('linux'), Type.Literal('windows')]),
            arch: Type.Literal('x86_64'),
            version: Type.String({ minLength: 1, maxLength: 50, pattern: '^[0-9A-Za-z.+-]+$' }),
            tags: Type.Optional(Type.Array(Tag, { maxItems: 32, description: 'labels for group rules' })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ agent: AgentSchema, credential: Type.String({ description: 'shown once; store it 0600' }), root: Type.String({ description: 'the current signed root (base64 envelope) to pin' }) }),
          ...errors(400, 401, 409, 429),
        },
      },
    },
    async (req, reply) => {
      const out = await app.services.agents.enroll(req.body);
      req.log.info({ agentId: out.agent.id, group: out.agent.group, hostname: out.agent.hostname }, 'agent enrolled');
      return reply.status(201).send(out);
    },
  );

  app.post(
    '/agents/session',
    {
      config: { public: true, rateLimit: enrollLimit(app) },
      schema: {
        tags: ['agents'],
        summary: 'Exchange an agent credential for a short-lived agent token',
        security: [],
        body: Type.Object({ agentId: Type.String({ format: 'uuid' }), credential: Secret }, { additionalProperties: false }),
        response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String() }), ...errors(400, 401, 429) },
      },
    },
    async (req) => app.services.agents.session(req.body),
  );

  app.get(
    '/agents',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['agents'],
        summary: 'List agents (keyset pagination by id)',
        querystring: Type.Object(
          {
            after: Type.Optional(Type.String({ format: 'uuid', description: 'return agents after this id (from nextCursor)' })),
            limit: Cursor.properties.limit,
            group: Type.Optional(GroupName),
            os: Type.Optional(Type.Union([Type.Literal('linux'), Type.Literal('windows')])),
            status: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('revoked')])),
            lastSeenBefore: Type.Optional(Type.String({ format: 'date-time', description: 'last heard from before this (never-seen agents too)' })),
            lastSeenAfter: Type.Optional(Type.String({ format: 'date-time', description: 'last heard from at or after this' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AgentSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const { limit, after, group, os, status, lastSeenBefore, lastSeenAfter } = req.query;
      const items = await app.services.agents.list({
        after,
        limit: limit + 1,
        group,
        os,
        status,
        ...(lastSeenBefore ? { lastSeenBefore: new Date(lastSeenBefore) } : {}),
        ...(lastSeenAfter ? { lastSeenAfter: new Date(lastSeenAfter) } : {}),
      });
      const more = items.length > limit;
      if (more) items.length = limit;
      return { items, nextCursor: more ? items[items.length - 1]!.id : null };
    },
  );

  app.get(
    '/agents/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['agents'],
        summary: 'One agent: its state, the modules it has loaded (process counts) and where each enabled patch stands on it',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: {
          200: AgentDetailSchema,
          ...errors(401, 403, 404),
        },
      },
    },
    async (req) => {
      const agent = await app.services.agents.get(req.params.id);
      const [modules, patches] = await Promise.all([app.services.fleet.modules(agent.id), app.services.agentStatus.patchesOf(agent.id)]);
      return { agent, modules, patches };
    },
  );

  app.post(
    '/agents/:id/revoke',
    {
      schema: {
        tags: ['agents'],
        summary: 'Revoke an agent: its credential and tokens are refused from now on',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: AgentSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => {
      const a = await app.services.agents.revoke(req.params.id);
      app.agentPush.revoked(a.id); // its socket is closed on whichever replica holds it
      req.log.info({ agentId: a.id }, 'agent revoked');
      return a;
    },
  );

  app.get(
    '/agents/:id/events',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['agents'],
        summary: "An agent's reported outcomes, oldest first (keyset pagination by sequence number)",
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        querystring: Type.Object(
          { after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'return events after this seq (from nextCursor)' })), limit: Cursor.properties.limit },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AgentEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const { after, limit } = req.query;
      const items = await app.services.fleet.events({ agentId: req.params.id, afterSeq: after === undefined ? undefined : BigInt(after), limit });
      return page(items, limit, (e) => e.seq);
    },
  );
};
