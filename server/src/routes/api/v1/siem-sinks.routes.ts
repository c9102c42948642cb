import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../../plugins/auth.plugin.ts';
import { errors, Nullable } from '../../schemas.ts';

const SinkSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String({ description: 'syslog-udp | syslog-tcp | syslog-tls | webhook' }),
  target: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'where it delivers, without secrets' }),
  enabled: Type.Boolean(),
  cursor: Type.String({ description: 'the last event seq delivered' }),
  createdAt: Type.String(),
  status: Nullable(Type.Unknown({ description: 'live delivery state on this replica: state, deliveredSeq, lastError, lagMs, lagEvents' })),
});
const Name = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }) });

/** SIEM push: syslog (CEF over RFC 5424, UDP/TCP/TLS) and HMAC-signed webhooks (admin only). See server/src/siem/README.md. */
export const siemSinkRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/siem/sinks',
    { schema: { tags: ['siem'], summary: 'SIEM sinks with their delivery status', response: { 200: Type.Object({ items: Type.Array(SinkSchema) }), ...errors(401, 403) } } },
    async () => {
      const status = await app.siem.status();
      return { items: (await app.services.siemSinks.list()).map((s) => ({ ...s, status: status.find((x) => x.name === s.name) ?? null })) };
    },
  );

  app.post(
    '/siem/sinks',
    {
      schema: {
        tags: ['siem'],
        summary: 'Add a SIEM sink: {type: syslog-udp|syslog-tcp|syslog-tls, name, host, port, ...} or {type: webhook, name, url, secret (>= 32 chars), ...}; `from` picks the whole log or only new events',
        querystring: Type.Object({ from: Type.Optional(Type.Union([Type.Literal('start'), Type.Literal('now')], { default: 'now' })) }, { additionalProperties: false }),
        body: Type.Object({ type: Type.String({ maxLength: 20 }), name: Type.String({ maxLength: 64 }) }, { additionalProperties: true, maxProperties: 30 }),
        response: { 201: SinkSchema, ...errors(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const sink = await app.services.siemSinks.create({ creator: principalOf(req), config: req.body, from: req.query.from });
      req.audit({ action: 'siem-sink.create', targetType: 'siem-sink', targetId: sink.name, after: sink });
      await app.siem.reload();
      return reply.status(201).send({ ...sink, status: null });
    },
  );

  app.delete(
    '/siem/sinks/:name',
    { schema: { tags: ['siem'], summary: 'Delete a SIEM sink (delivery to it stops)', params: Name, response: { 200: SinkSchema, ...errors(401, 403, 404) } } },
    async (req) => {
      const sink = await app.services.siemSinks.remove(req.params.name);
      req.audit({ action: 'siem-sink.delete', targetType: 'siem-sink', targetId: sink.name, before: sink });
      await app.siem.reload();
      return { ...sink, status: null };
    },
  );
};
