import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Envelope, PatchId, Sha256Hex } from '@suture/shared/schemas';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { Cursor, errors, page, sendBytes } from '../../schemas.ts';
import { CveParam, SeverityList } from './siem-views.ts';
import { PatchSchema } from './views.ts';

const Params = Type.Object({ id: PatchId });

export const patchRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/patches',
    {
      config: { permission: 'publish' },
      bodyLimit: 1024 * 1024 + 4096,
      schema: {
        tags: ['patches'],
        summary: 'Publish a publisher-signed patch envelope (refused with the verification reason unless a publisher key named by the root signed it)',
        body: Envelope,
        response: { 200: PatchSchema, 201: PatchSchema, ...errors(400, 401, 403, 409, 413, 422) },
      },
    },
    async (req, reply) => {
      const { patch, created } = await app.services.patches.publish({ envelope: req.body, publishedById: principalOf(req).userId });
      if (created) app.metrics.patchesPublished.inc();
      req.log.info({ patchId: patch.id, release: patch.release, module: patch.moduleSha256, created }, 'patch published');
      req.audit({ action: 'patch.publish', targetType: 'patch', targetId: patch.id, after: patch });
      // A new patch: groups whose policy takes this severity enable it (after their delay). A new
      // release of a known one: groups that have it enabled get the new envelope.
      const now = Date.now();
      const groups = created ? await app.services.groups.autoEnabling(patch.severity) : [];
      for (const g of groups) await app.services.desired.enable({ patchId: patch.id, group: g.name, byUserId: null, ...(g.delayMinutes > 0 ? { activeFrom: new Date(now + g.delayMinutes * 60_000) } : {}) });
      if (groups.length) req.audit({ action: 'patch.auto-enable', targetType: 'patch', targetId: patch.id, after: { groups } });
      const moved = created ? groups.filter((g) => g.delayMinutes === 0).map((g) => g.name) : await app.services.desired.touchPatch(patch.id);
      for (const group of moved) await app.agentPush.desiredChanged(group);
      return reply.status(created ? 201 : 200).send(patch);
    },
  );

  app.get(
    '/patches',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['patches'],
        summary: 'List patches (cursor: patch id); filter by module, severity (or a comma list), CVE',
        querystring: Type.Object(
          {
            ...Cursor.properties,
            module: Type.Optional(Sha256Hex),
            includeWithdrawn: Type.Boolean({ default: false }),
            severity: Type.Optional(SeverityList),
            cve: Type.Optional(CveParam),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(PatchSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const { severity, ...q } = req.query;
      const items = await app.services.patches.list({ ...q, limit: q.limit + 1, ...(severity ? { severities: severity.split(',') } : {}) });
      const more = items.length > q.limit;
      if (more) items.length = q.limit;
      return { items, nextCursor: more ? items[items.length - 1]!.id : null };
    },
  );

  app.get(
    '/patches/:id',
    {
      config: { permission: 'read' },
      schema: { tags: ['patches'], summary: 'One patch', params: Params, response: { 200: PatchSchema, ...errors(401, 403, 404) } },
    },
    async (req) => app.services.patches.get(req.params.id),
  );

  app.get(
    '/patches/:id/envelope',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['patches'],
        summary: 'The signed patch envelope, byte for byte as manifests hash it',
        params: Params,
        response: { 200: Envelope, ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => sendBytes(reply, await app.services.patches.envelope(req.params.id)),
  );

  app.post(
    '/patches/:id/withdraw',
    {
      config: { permission: 'publish' },
      schema: {
        tags: ['patches'],
        summary: "Withdraw a patch: it leaves its module's manifest at once",
        params: Params,
        response: { 200: PatchSchema, ...errors(401, 403, 404) },
      },
    },
    async (req) => {
      const patch = await app.services.patches.withdraw({ id: req.params.id, byUserId: principalOf(req).userId });
      req.log.info({ patchId: patch.id }, 'patch withdrawn');
      req.audit({ action: 'patch.withdraw', targetType: 'patch', targetId: patch.id, after: { withdrawnAt: patch.withdrawnAt } });
      // Agents of groups that had it enabled take it out (withdrawn patches leave every desired state).
      for (const group of await app.services.desired.touchPatch(patch.id)) await app.agentPush.desiredChanged(group);
      return patch;
    },
  );
};
