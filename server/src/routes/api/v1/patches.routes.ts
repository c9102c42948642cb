import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Envelope, PatchId, Sha256Hex } from '@suture/shared/schemas';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { Cursor, errors, page, sendBytes } from '../../schemas.ts';
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
      return reply.status(created ? 201 : 200).send(patch);
    },
  );

  app.get(
    '/patches',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['patches'],
        summary: 'List patches (cursor: patch id)',
        querystring: Type.Intersect([
          Cursor,
          Type.Object({ module: Type.Optional(Sha256Hex), includeWithdrawn: Type.Boolean({ default: false }) }),
        ]),
        response: { 200: Type.Object({ items: Type.Array(PatchSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const items = await app.services.patches.list(req.query);
      return page(items, req.query.limit, (p) => p.id);
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
      return patch;
    },
  );
};
