import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { unapplyNow } from '../../../lib/unapply.ts';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { Cursor, errors, Nullable, page } from '../../schemas.ts';
import { RolloutCriteriaSchema, RolloutSchema } from './views.ts';

const StatusQuery = Type.Union([Type.Literal('scheduled'), Type.Literal('running'), Type.Literal('paused'), Type.Literal('halted'), Type.Literal('completed'), Type.Literal('aborted')]);
const Id = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Staged rollouts through the rings, with automatic brakes; pause, resume, abort. */
export const rolloutRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/rollouts',
    {
      config: { permission: 'publish' },
      schema: {
        tags: ['rollouts'],
        summary: 'Roll a patch out through the rings in order (now or at startAt), stage by stage, halting by itself when a stage misses its criteria',
        body: Type.Object({ patchId: PatchId, startAt: Type.Optional(Type.String({ format: 'date-time' })), unapplyOnAbort: Type.Optional(Type.Boolean()), ...RolloutCriteriaSchema.properties }, { additionalProperties: false }),
        response: { 201: RolloutSchema, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const { patchId, startAt, unapplyOnAbort, ...criteria } = req.body;
      const r = await app.services.rollouts.create({ creator: principalOf(req), patchId, criteria, startAt: startAt ? new Date(startAt) : undefined, unapplyOnAbort });
      req.audit({ action: 'rollout.create', targetType: 'rollout', targetId: r.id, after: r });
      // A rollout due now starts now, not at the next pass; if this pass fails, the next one retries
      // (the rollout is stored either way).
      await app.scheduler.tick().catch((err) => req.log.warn({ err, rolloutId: r.id }, 'first scheduler pass for the new rollout failed; the next pass retries'));
      return reply.status(201).send(await app.services.rollouts.get(r.id));
    },
  );

  app.get(
    '/rollouts',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rollouts'],
        summary: 'List rollouts (keyset pagination by id)',
        querystring: Type.Object({ after: Type.Optional(Type.String({ format: 'uuid' })), limit: Cursor.properties.limit, patchId: Type.Optional(PatchId), status: Type.Optional(StatusQuery) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(RolloutSchema), nextCursor: Nullable(Type.String()) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => page(await app.services.rollouts.list(req.query), req.query.limit, (r) => r.id),
  );

  app.get(
    '/rollouts/:id',
    { config: { permission: 'read' }, schema: { tags: ['rollouts'], summary: 'A rollout with its stages and their figures', params: Id, response: { 200: RolloutSchema, ...errors(401, 403, 404) } } },
    async (req) => app.services.rollouts.get(req.params.id),
  );

  for (const action of ['pause', 'resume'] as const)
    app.post(
      `/rollouts/:id/${action}`,
      {
        config: { permission: 'publish' },
        schema: { tags: ['rollouts'], summary: action === 'pause' ? 'Pause a rollout (what is enabled stays enabled)' : "Resume a paused or halted rollout (the current stage's wait starts over)", params: Id, response: { 200: RolloutSchema, ...errors(401, 403, 404, 409) } },
      },
      async (req) => {
        const before = await app.services.rollouts.get(req.params.id);
        const r = await app.services.rollouts[action](req.params.id);
        req.audit({ action: `rollout.${action}`, targetType: 'rollout', targetId: r.id, before: { status: before.status, haltReason: before.haltReason }, after: { status: r.status } });
        return r;
      },
    );

  app.post(
    '/rollouts/:id/abort',
    {
      config: { permission: 'publish' },
      schema: {
        tags: ['rollouts'],
        summary: 'Abort a rollout for good; with unapply (or unapplyOnAbort) the patch is disabled and taken out of every group the rollout reached',
        params: Id,
        body: Nullable(Type.Object({ unapply: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
        response: { 200: Type.Object({ rollout: RolloutSchema, operations: Type.Array(Type.Object({ group: Type.String(), operationId: Type.String() })) }), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const { rollout, enabledGroups } = await app.services.rollouts.abort(req.params.id);
      const operations: { group: string; operationId: string }[] = [];
      if (req.body?.unapply ?? rollout.unapplyOnAbort) {
        for (const group of enabledGroups) {
          const op = await unapplyNow(app, { creator: principalOf(req), patchId: rollout.patchId, scope: { group } });
          operations.push({ group, operationId: op.id });
        }
      }
      req.audit({ action: 'rollout.abort', targetType: 'rollout', targetId: rollout.id, after: { status: rollout.status, operations } });
      return { rollout, operations };
    },
  );
};
