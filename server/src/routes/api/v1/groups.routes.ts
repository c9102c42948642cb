import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors, Nullable } from '../../schemas.ts';
import { AutoEnableSchema, GroupName, GroupSchema, Tag } from './views.ts';

const RuleSchema = Type.Object({ id: Type.String(), priority: Type.Integer(), group: Type.String(), os: Nullable(Type.String()), hostnamePattern: Nullable(Type.String()), tag: Nullable(Type.String()), createdAt: Type.String() });

/** Agent groups (rings and policies for new patches) and the rules that place agents at enrollment. */
export const groupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/groups',
    { config: { permission: 'read' }, schema: { tags: ['groups'], summary: 'Agent groups in ring order, with their policy and agent counts', response: { 200: Type.Object({ items: Type.Array(GroupSchema) }), ...errors(401, 403) } } },
    async () => ({ items: await app.services.groups.list() }),
  );

  app.put(
    '/groups/:name',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['groups'],
        summary: "Create or change a group: its ring and its policy for new patches (enable those at or above a severity, after a delay)",
        params: Type.Object({ name: GroupName }),
        body: Type.Object({ description: Type.Optional(Type.String({ maxLength: 500 })), ring: Nullable(Type.Integer({ minimum: 0, maximum: 1000 })), autoEnable: AutoEnableSchema }, { additionalProperties: false }),
        response: { 200: GroupSchema, ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const { before, after } = await app.services.groups.put({ name: req.params.name, ...req.body });
      req.audit({ action: 'group.put', targetType: 'group', targetId: req.params.name, before, after });
      return app.services.groups.get(req.params.name);
    },
  );

  app.get(
    '/group-rules',
    { config: { permission: 'read' }, schema: { tags: ['groups'], summary: 'The rules that place enrolling agents whose token names no group, in the order they are tried', response: { 200: Type.Object({ items: Type.Array(RuleSchema) }), ...errors(401, 403) } } },
    async () => ({ items: await app.services.groups.rules() }),
  );

  app.post(
    '/group-rules',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['groups'],
        summary: 'Add a rule: agents matching every condition given (os, hostname glob, tag) join the group; lower priority is tried first',
        body: Type.Object(
          {
            priority: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
            group: GroupName,
            os: Type.Optional(Type.Union([Type.Literal('linux'), Type.Literal('windows')])),
            hostnamePattern: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.*?_-]+$', description: 'glob: * any run, ? one character' })),
            tag: Type.Optional(Tag),
          },
          { additionalProperties: false },
        ),
        response: { 201: RuleSchema, ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const rule = await app.services.groups.addRule(req.body);
      req.audit({ action: 'group-rule.create', targetType: 'group-rule', targetId: rule.id, after: rule });
      return reply.status(201).send(rule);
    },
  );

  app.delete(
    '/group-rules/:id',
    {
      config: { permission: 'admin' },
      schema: { tags: ['groups'], summary: 'Delete a rule (agents already placed stay where they are)', params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 200: RuleSchema, ...errors(401, 403, 404) } },
    },
    async (req) => {
      const rule = await app.services.groups.deleteRule(req.params.id);
      req.audit({ action: 'group-rule.delete', targetType: 'group-rule', targetId: rule.id, before: rule });
      return rule;
    },
  );
};
