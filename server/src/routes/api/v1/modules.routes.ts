import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Platform, Sha256Hex } from '@suture/shared/schemas';
import { Cursor, errors, page } from '../../schemas.ts';
import { ModuleSchema } from './views.ts';

/** The catalog of modules that have patches. */
export const moduleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/modules',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['modules'],
        summary: 'List modules in the catalog (cursor: sha256)',
        querystring: Type.Intersect([
          Cursor,
          Type.Object({ platform: Type.Optional(Platform), name: Type.Optional(Type.String({ maxLength: 255 })) }),
        ]),
        response: { 200: Type.Object({ items: Type.Array(ModuleSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => page(await app.services.modules.list(req.query), req.query.limit, (m) => m.sha256),
  );

  app.get(
    '/modules/:sha256',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['modules'],
        summary: 'One module',
        params: Type.Object({ sha256: Sha256Hex }),
        response: { 200: ModuleSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => app.services.modules.get(req.params.sha256),
  );
};
