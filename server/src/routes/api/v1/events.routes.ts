import Type, { type Static } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PatchId } from '@suture/shared/schemas';
import { badRequest } from '../../../lib/errors.ts';
import { SIEM_EVENT_TYPES } from '../../../siem/index.ts';
import type { EventFilter } from '../../../services/siem-events.service.ts';
import { Cursor, errors, Nullable } from '../../schemas.ts';
import { sseStreams } from '../../sse.ts';
import { CveParam, SeverityList, SiemEventSchema } from './siem-views.ts';
import { GroupName } from './views.ts';

const TYPES = SIEM_EVENT_TYPES.join('|');
const Seq = Type.String({ pattern: '^[0-9]{1,19}$', description: 'return events after this seq (from nextCursor, or the last seq seen)' });

/** The filters both the listing and the stream take. */
const Filters = {
  since: Type.Optional(Type.String({ format: 'date-time', description: '`at` at or after this (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: '`at` before this (ISO 8601)' })),
  type: Type.Optional(Type.String({ pattern: `^(${TYPES})(,(${TYPES}))*$`, description: `${SIEM_EVENT_TYPES.join(' | ')}, or a comma list` })),
  agentId: Type.Optional(Type.String({ format: 'uuid' })),
  patchId: Type.Optional(PatchId),
  cve: Type.Optional(CveParam),
  severity: Type.Optional(SeverityList),
  group: Type.Optional(GroupName),
};
const ListQuery = Type.Object({ ...Filters, after: Type.Optional(Seq), limit: Cursor.properties.limit }, { additionalProperties: false });
const FollowQuery = Type.Object({ ...Filters, after: Type.Optional(Seq) }, { additionalProperties: false });

function filterOf(q: Static<typeof FollowQuery>): EventFilter {
  const since = q.since ? new Date(q.since) : undefined;
  const until = q.until ? new Date(q.until) : undefined;
  if (since && until && since >= until) throw badRequest('since must be before until', 'validation');
  return {
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(q.type ? { types: [...new Set(q.type.split(','))] } : {}),
    ...(q.agentId ? { agentId: q.agentId } : {}),
    ...(q.patchId ? { patchId: q.patchId } : {}),
    ...(q.cve ? { cve: q.cve } : {}),
    ...(q.severity ? { severities: [...new Set(q.severity.split(','))] } : {}),
    ...(q.group ? { group: q.group } : {}),
  };
}

const FOLLOW_POLL_MS = 500;
const FOLLOW_BATCH = 500;

/** The SIEM event log: pull a page at a time, or follow new events live. Read-only. */
export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const stream = sseStreams(app);

  app.get(
    '/events',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'The agent event log, oldest first, with agent and patch context (keyset pagination by seq)',
        description: 'Filters combine with AND. Page with `after` = the previous `nextCursor` (null: no more events for now; to poll for new ones, pass the last seq you have).',
        querystring: ListQuery,
        response: { 200: Type.Object({ items: Type.Array(SiemEventSchema), nextCursor: Nullable(Type.String({ description: 'pass as `after` for the next page' })) }), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const { after, limit } = req.query;
      const items = await app.services.siemEvents.list({ filter: filterOf(req.query), ...(after !== undefined ? { afterSeq: BigInt(after) } : {}), limit: limit + 1 });
      const more = items.length > limit;
      if (more) items.length = limit;
      return { items, nextCursor: more ? items[items.length - 1]!.seq : null };
    },
  );

  app.get(
    '/events/follow',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'Follow new events live (text/event-stream), with the same filters',
        description:
          'Server-sent events: each event is `id: <seq>`, `event: event`, `data: <the event as in GET /events>`. Without `after` (or a Last-Event-ID header) it starts with events stored from now on; with it, it first sends what came after that seq. A comment keeps the connection alive every 15 s; the stream ends when the server shuts down (connect again with the last id).',
        produces: ['text/event-stream'],
        querystring: FollowQuery,
        response: { 200: Type.String({ description: 'an event stream' }), ...errors(400, 401, 403, 429) },
      },
    },
    async (req, reply) => {
      const filter = filterOf(req.query);
      const lastId = req.headers['last-event-id'];
      const resume = req.query.after ?? (typeof lastId === 'string' && /^[0-9]{1,19}$/.test(lastId) ? lastId : undefined);
      let cursor = resume !== undefined ? BigInt(resume) : await app.services.siemEvents.latestSeq();
      await stream(req, reply, { log: 'following events failed', message: 'the server could not read the event log; follow again from the last id' }, async (s) => {
        while (s.open) {
          const batch = await app.services.siemEvents.list({ filter, afterSeq: cursor, limit: FOLLOW_BATCH });
          for (const e of batch) s.send('event', e, e.seq);
          if (batch.length) cursor = BigInt(batch[batch.length - 1]!.seq);
          if (batch.length < FOLLOW_BATCH) await s.pause(FOLLOW_POLL_MS);
        }
      });
    },
  );
};
