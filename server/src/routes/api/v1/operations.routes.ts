import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { badRequest } from '../../../lib/errors.ts';
import { unapplyNow } from '../../../lib/unapply.ts';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors } from '../../schemas.ts';
import { sseStreams } from '../../sse.ts';
import { GroupName, OperationSchema } from './views.ts';


const FOLLOW_POLL_MS = 250;
const FOLLOW_MAX_MS = 10 * 60_000;

/** Operations: take a patch out now, fleet-wide, from a group or from one agent, and follow it. */
export const operationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const stream = sseStreams(app);

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
      const { disabledIn, ...op } = await unapplyNow(app, { creator: principalOf(req), patchId, scope });
      req.log.info({ operationId: op.id, patchId, scope, targets: op.targets, sentNow: op.sentNow }, 'unapply operation');
      req.audit({ action: 'operation.unapply', targetType: 'patch', targetId: patchId, after: { operationId: op.id, scope, targets: op.targets, disabledIn } });
      return reply.status(201).send(op);
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

  app.get(
    '/operations/:id/follow',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Follow an operation live (text/event-stream): a `progress` event with the counts whenever they change, `done` once nothing is pending',
        description:
          'Server-sent events. `event: progress` / `event: done` carry `{"total","acknowledged","pending","failed"}`; comments keep the connection alive every 15 s; after 10 minutes the stream ends with `event: timeout` (follow again to go on).',
        produces: ['text/event-stream'],
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: Type.String({ description: 'an event stream' }), ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => {
      if ((await app.services.operations.progress(req.params.id)).total === 0) await app.services.operations.get(req.params.id); // 404 before the stream starts
      await stream(req, reply, { log: 'following an operation failed', message: 'the server could not read the operation; follow it again' }, async (s) => {
        const deadline = Date.now() + FOLLOW_MAX_MS;
        let last = '';
        while (s.open) {
          const p = await app.services.operations.progress(req.params.id);
          if (p.pending === 0) return s.send('done', p);
          const data = JSON.stringify(p);
          if (data !== last) (s.send('progress', p), (last = data));
          if (Date.now() > deadline) return s.send('timeout', {});
          await s.pause(FOLLOW_POLL_MS);
        }
      });
    },
  );
};
