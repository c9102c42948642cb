import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { badRequest } from '../../../lib/errors.ts';
import { Cursor, errors, Nullable } from '../../schemas.ts';
import { CveParam, PatchIdCursor, SeverityList } from './siem-views.ts';
import { CoveragePointSchema, CoverageSchema } from './views.ts';

const Millis = Type.String({ pattern: '^[0-9]{1,15}$', description: 'return samples after this cursor (from nextCursor)' });

/** Coverage of each patch across the fleet, now and sampled over time. */
export const coverageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/coverage',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'Coverage per patch: applied, vulnerable (loads the module, not protected), not applicable (keyset pagination by patch id)',
        description: 'Published patches; `includeWithdrawn=true` adds withdrawn ones, and a patch named with `patch` is shown either way.',
        querystring: Type.Object(
          {
            after: Type.Optional(PatchIdCursor),
            limit: Cursor.properties.limit,
            patch: Type.Optional(PatchId),
            cve: Type.Optional(CveParam),
            severity: Type.Optional(SeverityList),
            includeWithdrawn: Type.Boolean({ default: false }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(CoverageSchema), nextCursor: Nullable(Type.String()) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const { after, limit, patch, cve, severity, includeWithdrawn } = req.query;
      const items = await app.services.coverage.list({
        limit: limit + 1,
        includeWithdrawn,
        ...(after ? { after } : {}),
        ...(patch ? { patchId: patch } : {}),
        ...(cve ? { cve } : {}),
        ...(severity ? { severities: severity.split(',') } : {}),
      });
      const more = items.length > limit;
      if (more) items.length = limit;
      return { items, nextCursor: more ? items[items.length - 1]!.patchId : null };
    },
  );

  app.get(
    '/coverage/history',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'Coverage sampled over time, oldest first: one patch, or the fleet totals (keyset pagination by sample time)',
        querystring: Type.Object(
          {
            after: Type.Optional(Millis),
            limit: Cursor.properties.limit,
            patch: Type.Optional(PatchId),
            since: Type.Optional(Type.String({ format: 'date-time', description: 'samples at or after this' })),
            until: Type.Optional(Type.String({ format: 'date-time', description: 'samples before this' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(CoveragePointSchema), nextCursor: Nullable(Type.String()) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const { after, limit, patch, since, until } = req.query;
      if (since && until && Date.parse(since) >= Date.parse(until)) throw badRequest('since must be before until', 'validation');
      const items = await app.services.coverage.history({
        limit: limit + 1,
        ...(patch ? { patchId: patch } : {}),
        ...(since ? { since: new Date(since) } : {}),
        ...(until ? { until: new Date(until) } : {}),
        ...(after ? { after: new Date(Number(after)) } : {}),
      });
      const more = items.length > limit;
      if (more) items.length = limit;
      return { items, nextCursor: more ? String(Date.parse(items[items.length - 1]!.at)) : null };
    },
  );
};
