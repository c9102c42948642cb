import type { Db } from '../db/index.ts';

/**
 * What agents reported, read back: the append-only event log and each agent's modules (written
 * by the agent-ingest service).
 */
export function createFleetService({ db }: { db: Db }) {
  return {
    async events(opts: { agentId?: string; afterSeq?: bigint; limit: number }) {
      const rows = await db.prisma.agentEvent.findMany({
        where: { ...(opts.agentId ? { agentId: opts.agentId } : {}), ...(opts.afterSeq !== undefined ? { seq: { gt: opts.afterSeq } } : {}) },
        orderBy: { seq: 'asc' },
        take: opts.limit,
      });
      return rows.map((r) => ({
        seq: r.seq.toString(),
        id: r.eventId,
        agentId: r.agentId,
        type: r.type,
        patchId: r.patchId,
        pid: Number(r.pid),
        reason: r.reason,
        detail: r.detail,
        commandId: r.commandId,
        at: r.at.toISOString(),
        receivedAt: r.receivedAt.toISOString(),
      }));
    },

    async modules(agentId: string) {
      return db.prisma.agentModule.findMany({ where: { agentId }, orderBy: { sha256: 'asc' }, select: { sha256: true, name: true, processes: true } });
    },
  };
}
export type FleetService = ReturnType<typeof createFleetService>;
