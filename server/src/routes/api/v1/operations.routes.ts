import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { badRequest } from '../../../lib/errors.ts';
import { commandMessage, pushDesired } from '../../../lib/agent-push.ts';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors, Nullable } from '../../schemas.ts';
import { GroupName } from './views.ts';

const OperationSchema = Type.Object({
  id: Type.String(),
  kind: Type.Literal('unapply'),
  patchId: Type.String(),
  scope: Type.String(),
  createdAt: Type.String(),
  total: Type.Integer(),
  acknowledged: Type.Integer(),
  pending: Type.Integer(),
  failed: Type.Integer(),
  targets: Type.Array(Type.Object({ agentId: Type.String(), status: Type.String(), detail: Nullable(Type.String()), doneAt: Nullable(Type.String()) })),
});

/** Operations: take a patch out now, fleet-wide, from a group or from one agent, and follow it. */
export const operationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/operations/unapply',
    {
      config: { permission: 'publish' },
      schema: {
        tags: ['operations'],
        summary: 'Unapply a patch from every agent in scope (no group or agent: the whole fleet); returns the operation to follow',
        body: Type.Object({ patchId: PatchId, group: Type.Optional(GroupName), agentId: Type.Optional(Type.String({ format: 'uuid' })) }, { additionalProperties: false }),
        response: { 201: Type.Object({ id: Type.String(), targets: Type.Integer(), sentNow: Type.Integer() }), ...errors(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { patchId, group, agentId } = req.body;
      if (group && agentId) throw badRequest('give a group or an agent, not both');
      const scope = agentId ? { agentId } : group ? { group } : { fleet: true as const };
      // Taken out means disabled too, or agents would apply it again from their desired state
      // (for one agent: its group keeps the patch; disable it there to keep it out for good).
      const groups = agentId ? [] : group ? (await app.services.desired.disable({ patchId, group }), [group]) : await app.services.desired.disableEverywhere(patchId);
      const op = await app.services.operations.createUnapply({ creator: principalOf(req), patchId, scope });
      // Connected here: at once. Elsewhere (other replicas, offline agents): on connect and by the sweep.
      const sent = op.agentIds.filter((id) => app.agentHub.send(id, commandMessage({ id: op.id, patchId })));
      await app.services.operations.markSent({ operationId: op.id, agentIds: sent });
      for (const g of groups) await pushDesired({ hub: app.agentHub, desired: app.services.desired, group: g });
      req.log.info({ operationId: op.id, patchId, scope, targets: op.agentIds.length, sentNow: sent.length }, 'unapply operation');
      return reply.status(201).send({ id: op.id, targets: op.agentIds.length, sentNow: sent.length });
    },
  );

  app.get(
    '/operations/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Progress of an operation: acknowledged / pending / failed per agent',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: OperationSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => app.services.operations.get(req.params.id),
  );
};
