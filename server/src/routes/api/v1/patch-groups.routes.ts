import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors } from '../../schemas.ts';
import { EnablementSchema, GroupName } from './views.ts';

const Params = Type.Object({ id: PatchId, group: GroupName });
const Result = Type.Object({ patchId: Type.String(), group: Type.String(), enabled: Type.Boolean(), version: Type.Integer({ description: "the group's desired-state version" }), sentNow: Type.Integer() });

/** Enable or disable a patch for an agent group; connected agents of the group get the new desired state at once. */
export const patchGroupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/patches/:id/groups',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['patches'],
        summary: 'The agent groups a patch is enabled for',
        params: Type.Object({ id: PatchId }),
        response: {
          200: Type.Object({ items: Type.Array(EnablementSchema) }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (req) => {
      await app.services.patches.get(req.params.id); // 404 for an unknown patch
      const rows = await app.services.desired.enabledGroups(req.params.id);
      return { items: rows.map((r) => ({ group: r.group, enabledAt: r.enabledAt.toISOString(), activeFrom: r.activeFrom?.toISOString() ?? null })) };
    },
  );

  app.put(
    '/patches/:id/groups/:group',
    {
      config: { permission: 'publish' },
      schema: { tags: ['patches'], summary: 'Enable a patch for an agent group', params: Params, response: { 200: Result, ...errors(400, 401, 403, 404) } },
    },
    async (req) => {
      const { id, group } = req.params;
      const version = await app.services.desired.enable({ patchId: id, group, byUserId: principalOf(req).userId });
      req.audit({ action: 'patch.enable', targetType: 'patch', targetId: id, after: { group, enabled: true, version } });
      const sentNow = await app.agentPush.desiredChanged(group);
      req.log.info({ patchId: id, group, version, sentNow }, 'patch enabled for group');
      return { patchId: id, group, enabled: true, version, sentNow };
    },
  );

  app.delete(
    '/patches/:id/groups/:group',
    {
      config: { permission: 'publish' },
      schema: { tags: ['patches'], summary: 'Disable a patch for an agent group (agents take it out)', params: Params, response: { 200: Result, ...errors(400, 401, 403) } },
    },
    async (req) => {
      const { id, group } = req.params;
      const version = await app.services.desired.disable({ patchId: id, group });
      req.audit({ action: 'patch.disable', targetType: 'patch', targetId: id, after: { group, enabled: false, version } });
      const sentNow = await app.agentPush.desiredChanged(group);
      req.log.info({ patchId: id, group, version, sentNow }, 'patch disabled for group');
      return { patchId: id, group, enabled: false, version, sentNow };
    },
  );
};
