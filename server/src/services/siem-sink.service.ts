import { Prisma, type Db } from '../db/index.ts';
import { badRequest, conflict, notFound } from '../lib/errors.ts';
import type { Principal } from '../lib/permissions.ts';
import { describeSink, parseSinkConfigs, SinkConfigError, type SiemEvent, type SinkConfig } from '../siem/index.ts';
import { settled, siemEventView, withContext, type SiemEventRow } from './event-view.ts';

export interface SiemSinkView {
  id: string;
  name: string;
  type: string;
  /** what the sink delivers to, without secrets (URL without query, host and port, TLS settings) */
  target: Record<string, string | number | boolean>;
  enabled: boolean;
  cursor: string;
  createdAt: string;
}

/**
 * SIEM sinks as configured by admins: each one's settings (validated by the SIEM library's
 * schema), its secret kept apart and never returned, and its delivery cursor; and the event
 * feed the sinks follow (events joined with their agent and patch).
 */
export function createSiemSinkService({ db }: { db: Db }) {
  const toConfig = (r: { name: string; kind: string; config: unknown; secret: string | null }): SinkConfig =>
    parseSinkConfigs([{ ...(r.config as object), type: r.kind, name: r.name, ...(r.secret ? { secret: r.secret } : {}) }])[0]!;
  const view = (r: { id: string; name: string; kind: string; config: unknown; secret: string | null; enabled: boolean; cursor: bigint; createdAt: Date }): SiemSinkView => ({
    id: r.id,
    name: r.name,
    type: r.kind,
    target: describeSink(toConfig(r)),
    enabled: r.enabled,
    cursor: r.cursor.toString(),
    createdAt: r.createdAt.toISOString(),
  });
  return {
    async create(opts: { creator: Principal; config: Record<string, unknown> & { name: string; type: string }; from?: 'start' | 'now' }): Promise<SiemSinkView> {
      let parsed: SinkConfig;
      try {
        parsed = parseSinkConfigs([opts.config])[0]!;
      } catch (err) {
        if (err instanceof SinkConfigError) throw badRequest(err.message, 'invalid-sink');
        throw err;
      }
      if (await db.prisma.siemSink.findUnique({ where: { name: parsed.name } })) throw conflict(`a SIEM sink named ${parsed.name} exists; delete it first or pick another name`, 'sink-exists');
      const { type, name, ...rest } = parsed as SinkConfig & { secret?: string };
      const secret = 'secret' in rest ? (rest.secret as string) : null;
      delete (rest as { secret?: string }).secret;
      // "now": only events stored from here on; "start": the whole log (a SIEM back-fill).
      const latest = opts.from === 'now' ? await db.prisma.agentEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }) : null;
      const row = await db.prisma.siemSink.create({ data: { name, kind: type, config: rest as object, secret, cursor: latest?.seq ?? 0n, createdById: opts.creator.userId } });
      return view(row);
    },

    async list(): Promise<SiemSinkView[]> {
      return (await db.prisma.siemSink.findMany({ orderBy: { name: 'asc' } })).map(view);
    },

    async remove(name: string): Promise<SiemSinkView> {
      const row = await db.prisma.siemSink.findUnique({ where: { name } });
      if (!row) throw notFound(`no SIEM sink ${name}`);
      await db.prisma.siemSink.delete({ where: { name } });
      return view(row);
    },

    /** The enabled sinks' full configurations (secrets included: for the delivery loop only). */
    async configs(): Promise<SinkConfig[]> {
      return (await db.prisma.siemSink.findMany({ where: { enabled: true }, orderBy: { name: 'asc' } })).map(toConfig);
    },

    async loadCursor(name: string): Promise<string | null> {
      const r = await db.prisma.siemSink.findUnique({ where: { name }, select: { cursor: true } });
      return r ? r.cursor.toString() : null;
    },

    async saveCursor(name: string, cursor: string): Promise<void> {
      await db.prisma.siemSink.updateMany({ where: { name }, data: { cursor: BigInt(cursor), lastDeliveredAt: new Date() } });
    },

    async latestSeq(): Promise<string | null> {
      return (await db.prisma.agentEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }))?.seq.toString() ?? null;
    },

    /** Events after `cursor` in seq order, with their agent's hostname and group and their patch's CVEs and severity. */
    async fetchAfter(cursor: string, limit: number): Promise<SiemEvent[]> {
      const rows = await db.rows<SiemEventRow>(withContext(Prisma.sql`SELECT * FROM "AgentEvent" WHERE "seq" > ${BigInt(cursor)} AND ${settled()} ORDER BY "seq" LIMIT ${limit}`));
      return rows.map(siemEventView);
    },
  };
}
export type SiemSinkService = ReturnType<typeof createSiemSinkService>;
