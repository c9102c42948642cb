import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Cursor, errors, Nullable, page } from '../../schemas.ts';
import { AuditEntrySchema } from './views.ts';

/** The audit log, read-only and append-only: every change a person or their token made. */
export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/audit',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Audit log entries, oldest first (keyset pagination by seq)',
        querystring: Type.Object(
          {
            after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })),
            limit: Cursor.properties.limit,
            action: Type.Optional(Type.String({ maxLength: 200 })),
            actorId: Type.Optional(Type.String({ format: 'uuid' })),
            targetType: Type.Optional(Type.String({ maxLength: 50 })),
            targetId: Type.Optional(Type.String({ maxLength: 500 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AuditEntrySchema), nextCursor: Nullable(Type.String()) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => {
      const { after, limit, from, to, ...filters } = req.query;
      const items = await app.services.audit.list({ ...filters, limit, after: after === undefined ? undefined : BigInt(after), from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined });
      return page(items, limit, (e) => e.seq);
    },
  );
};
