import type { Db } from '../db/index.ts';

/** An agent counts as online while its socket is open and it was heard from within this long (two heartbeats and a margin). */
export const ONLINE_WITHIN_MS = 45_000;

export interface AgentPatchView {
  patchId: string;
  matching: number;
  applied: number;
  refused: number;
  failed: number;
  stopped: string | null;
  updatedAt: string;
}

/** Online: connected (no close recorded since the last hello) and heard from lately. */
export function isOnline(a: { lastSeenAt: Date | null; connectedAt: Date | null; disconnectedAt: Date | null }, now = Date.now()): boolean {
  return !!a.lastSeenAt && !!a.connectedAt && !a.disconnectedAt && now - a.lastSeenAt.getTime() < ONLINE_WITHIN_MS;
}

/** The same as `isOnline`, as a database filter. */
export const onlineWhere = (now = Date.now()) => ({ revokedAt: null, connectedAt: { not: null }, disconnectedAt: null, lastSeenAt: { gt: new Date(now - ONLINE_WITHIN_MS) } });

/**
 * Per-patch status of agents, as their last patch-status report said. (Written, group-committed,
 * by the agent-ingest service, as is connection state: each socket's hello stamps `connectedAt`,
 * its close stamps `disconnectedAt` only if no newer connection came since, as replicas may see
 * the close of an old socket after the agent reconnected elsewhere.)
 */
export function createAgentStatusService({ db }: { db: Db }) {
  return {
    async patchesOf(agentId: string): Promise<AgentPatchView[]> {
      const rows = await db.prisma.agentPatch.findMany({ where: { agentId }, orderBy: { patchId: 'asc' } });
      return rows.map((r) => ({ patchId: r.patchId, matching: r.matching, applied: r.applied, refused: r.refused, failed: r.failed, stopped: r.stopped, updatedAt: r.updatedAt.toISOString() }));
    },
  };
}
export type AgentStatusService = ReturnType<typeof createAgentStatusService>;
