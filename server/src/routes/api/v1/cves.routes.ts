import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Cursor, errors, Nullable } from '../../schemas.ts';
import { CveParam } from './siem-views.ts';
import { VulnerableEndpointSchema } from './views.ts';

/** Per CVE: the endpoints still exposed to it. */
export const cveRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/cves/:cve/vulnerable',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'Endpoints exposed to a CVE: per agent and patch, agents that load a module a published patch for it fixes and are not protected',
        params: Type.Object({ cve: CveParam }, { additionalProperties: false }),
        querystring: Type.Object(
          {
            after: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{36}/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', description: 'return rows after this cursor (from nextCursor)' })),
            limit: Cursor.properties.limit,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(
              VulnerableEndpointSchema,
            ),
            nextCursor: Nullable(Type.String()),
          }),
          ...errors(400, 401, 403, 429),
        },
      },
    },
    async (req) => {
      const { after, limit } = req.query;
      const [agentId, patchId] = after ? (after.split('/') as [string, string]) : [];
      const items = await app.services.coverage.vulnerable({ cve: req.params.cve, limit: limit + 1, ...(agentId && patchId ? { after: { agentId, patchId } } : {}) });
      const more = items.length > limit;
      if (more) items.length = limit;
      const last = items[items.length - 1];
      return { items, nextCursor: more && last ? `${last.agentId}/${last.patchId}` : null };
    },
  );
};
