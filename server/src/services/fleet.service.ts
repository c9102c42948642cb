import { Prisma, type Db } from '../db/index.ts';
import { EVENT_COLUMNS, eventView, type EventRow } from './event-view.ts';

/**
 * What agents reported, read back: the append-only event log and each agent's modules (written
 * by the agent-ingest service).
 */
export function createFleetService({ db }: { db: Db }) {
  return {
    async events(opts: { agentId?: string; afterSeq?: bigint; limit: number }) {
      const c: Prisma.Sql[] = [];
      if (opts.agentId) c.push(Prisma.sql`e."agentId" = ${opts.agentId}::uuid`);
      if (opts.afterSeq !== undefined) c.push(Prisma.sql`e."seq" > ${opts.afterSeq}`);
      const rows = await db.rows<EventRow>(Prisma.sql`
        SELECT ${EVENT_COLUMNS} FROM "AgentEvent" e ${c.length ? Prisma.sql`WHERE ${Prisma.join(c, ' AND ')}` : Prisma.empty}
        ORDER BY e."seq" LIMIT ${opts.limit}`);
      return rows.map(eventView);
    },

    async modules(agentId: string) {
      return db.prisma.agentModule.findMany({ where: { agentId }, orderBy: { sha256: 'asc' }, select: { sha256: true, name: true, processes: true } });
    },
  };
}
export type FleetService = ReturnType<typeof createFleetService>;
