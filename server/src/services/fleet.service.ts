import type { AgentEvent } from '@suture/shared/protocol';
import { Prisma, type Db } from '../db/index.ts';
import { EVENT_COLUMNS, eventView, type EventRow } from './event-view.ts';

/**
 * What agents report over their sockets, persisted: hello details and last-seen, inventory, and
 * the append-only event log. Events are keyed by (agent, event id), so an agent that re-sends
 * an event it has no acknowledgement for has it stored exactly once.
 */
export function createFleetService({ db }: { db: Db }) {
  return {
    async hello(opts: { agentId: string; hostname: string; os: string; arch: string; version: string }): Promise<void> {
      await db.prisma.agent.update({ where: { id: opts.agentId }, data: { hostname: opts.hostname, os: opts.os, arch: opts.arch, version: opts.version, lastSeenAt: new Date() } });
    },

    async seen(agentId: string): Promise<void> {
      await db.prisma.agent.update({ where: { id: agentId }, data: { lastSeenAt: new Date() } });
    },

    /** Stores the events not stored yet; returns every id now stored (to acknowledge all of them). */
    async recordEvents(agentId: string, events: AgentEvent[]): Promise<string[]> {
      await db.prisma.agentEvent.createMany({
        data: events.map((e) => ({
          eventId: e.id,
          agentId,
          type: e.type,
          patchId: e.patchId,
          pid: BigInt(e.pid),
          reason: e.reason ?? null,
          detail: e.detail ?? null,
          commandId: e.commandId ?? null,
          at: new Date(e.at),
        })),
        skipDuplicates: true,
      });
      return events.map((e) => e.id);
    },

    /** A full inventory replaces the agent's modules; a delta upserts (processes 0 removes). */
    async recordInventory(agentId: string, inv: { full: boolean; modules: { sha256: string; name: string; processes: number }[] }): Promise<void> {
      await db.prisma.$transaction(async (tx) => {
        if (inv.full) await tx.agentModule.deleteMany({ where: { agentId } });
        const gone = inv.modules.filter((m) => m.processes === 0).map((m) => m.sha256);
        if (gone.length) await tx.agentModule.deleteMany({ where: { agentId, sha256: { in: gone } } });
        const present = inv.modules.filter((m) => m.processes > 0);
        if (inv.full) await tx.agentModule.createMany({ data: present.map((m) => ({ agentId, ...m })) });
        else for (const m of present) await tx.agentModule.upsert({ where: { agentId_sha256: { agentId, sha256: m.sha256 } }, create: { agentId, ...m }, update: { name: m.name, processes: m.processes } });
      });
    },

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
