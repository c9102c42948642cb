import type { Db } from '../db/index.ts';
import { badRequest, notFound } from '../lib/errors.ts';
import type { Principal } from '../lib/permissions.ts';

export type OperationScope = { fleet: true } | { group: string } | { agentId: string };

export interface OperationProgress {
  total: number;
  acknowledged: number;
  pending: number;
  failed: number;
}

export interface OperationView {
  id: string;
  kind: 'unapply';
  patchId: string;
  scope: string;
  createdAt: string;
  total: number;
  acknowledged: number;
  pending: number;
  failed: number;
  targets: { agentId: string; status: string; detail: string | null; doneAt: string | null }[];
}

const MAX_TARGETS_LISTED = 1000;

/**
 * Operations: an operator's command to many agents, followed per agent. Creating one records a
 * pending target per agent in scope; the socket layer sends the command to every connected
 * target (at once, on every reconnect, and by a sweep) until the agent acknowledges it.
 */
export function createOperationService({ db }: { db: Db }) {
  async function progress(id: string): Promise<OperationProgress> {
    const counts = await db.prisma.operationTarget.groupBy({ by: ['status'], where: { operationId: id }, _count: { _all: true } });
    const n = (s: string) => counts.find((c) => c.status === s)?._count._all ?? 0;
    return { total: n('pending') + n('acknowledged') + n('failed'), acknowledged: n('acknowledged'), pending: n('pending'), failed: n('failed') };
  }
  return {
    async createUnapply(opts: { creator: Principal; patchId: string; scope: OperationScope }): Promise<{ id: string; agentIds: string[] }> {
      const where = 'fleet' in opts.scope ? {} : 'group' in opts.scope ? { groupName: opts.scope.group } : { id: opts.scope.agentId };
      const scope = 'fleet' in opts.scope ? 'fleet' : 'group' in opts.scope ? `group:${opts.scope.group}` : `agent:${opts.scope.agentId}`;
      return db.prisma.$transaction(async (tx) => {
        const agents = await tx.agent.findMany({ where: { ...where, revokedAt: null }, select: { id: true } });
        if ('agentId' in opts.scope && agents.length === 0) throw notFound(`no active agent ${opts.scope.agentId}`);
        if (agents.length > 200_000) throw badRequest('too many agents in one operation');
        const op = await tx.operation.create({ data: { kind: 'unapply', patchId: opts.patchId, scope, createdById: opts.creator.userId } });
        await tx.operationTarget.createMany({ data: agents.map((a) => ({ operationId: op.id, agentId: a.id, status: 'pending' })) });
        return { id: op.id, agentIds: agents.map((a) => a.id) };
      });
    },

    /** Pending commands for one agent (sent on every connect), oldest first. */
    async pendingFor(agentId: string): Promise<{ id: string; patchId: string }[]> {
      const rows = await db.prisma.operationTarget.findMany({ where: { agentId, status: 'pending' }, include: { operation: { select: { patchId: true, createdAt: true } } }, orderBy: { operation: { createdAt: 'asc' } }, take: 1000 });
      return rows.map((r) => ({ id: r.operationId, patchId: r.operation.patchId }));
    },

    /** Pending targets among `agentIds` whose command was not sent in the last `olderThanMs`. */
    async stale(opts: { agentIds: string[]; olderThanMs: number }): Promise<{ agentId: string; id: string; patchId: string }[]> {
      if (opts.agentIds.length === 0) return [];
      const rows = await db.prisma.operationTarget.findMany({
        where: { agentId: { in: opts.agentIds }, status: 'pending', OR: [{ sentAt: null }, { sentAt: { lt: new Date(Date.now() - opts.olderThanMs) } }] },
        include: { operation: { select: { patchId: true } } },
        take: 10_000,
      });
      return rows.map((r) => ({ agentId: r.agentId, id: r.operationId, patchId: r.operation.patchId }));
    },

    /** The pending targets of one operation among `agentIds` (another replica created it). */
    async pendingOf(opts: { operationId: string; agentIds: string[] }): Promise<{ agentId: string; id: string; patchId: string }[]> {
      if (opts.agentIds.length === 0) return [];
      const rows = await db.prisma.operationTarget.findMany({ where: { operationId: opts.operationId, agentId: { in: opts.agentIds }, status: 'pending' }, include: { operation: { select: { patchId: true } } } });
      return rows.map((r) => ({ agentId: r.agentId, id: r.operationId, patchId: r.operation.patchId }));
    },

    async markSent(opts: { operationId: string; agentIds: string[] }): Promise<void> {
      await db.prisma.operationTarget.updateMany({ where: { operationId: opts.operationId, agentId: { in: opts.agentIds }, status: 'pending' }, data: { sentAt: new Date() } });
    },

    /** The agent's acknowledgement; a repeated one changes nothing. */
    async acknowledge(opts: { operationId: string; agentId: string; outcome: 'done' | 'failed'; detail?: string }): Promise<void> {
      await db.prisma.operationTarget.updateMany({
        where: { operationId: opts.operationId, agentId: opts.agentId, status: 'pending' },
        data: { status: opts.outcome === 'done' ? 'acknowledged' : 'failed', detail: opts.detail ?? null, doneAt: new Date() },
      });
    },

    /** The counts only (cheap enough to poll while following an operation live). */
    progress,

    async get(id: string): Promise<OperationView> {
      const op = await db.prisma.operation.findUnique({ where: { id } });
      if (!op) throw notFound(`no operation ${id}`);
      const counts = await progress(id);
      const targets = await db.prisma.operationTarget.findMany({ where: { operationId: id }, orderBy: { agentId: 'asc' }, take: MAX_TARGETS_LISTED });
      return {
        id: op.id,
        kind: 'unapply',
        patchId: op.patchId,
        scope: op.scope,
        createdAt: op.createdAt.toISOString(),
        ...counts,
        targets: targets.map((t) => ({ agentId: t.agentId, status: t.status, detail: t.detail, doneAt: t.doneAt?.toISOString() ?? null })),
      };
    },
  };
}
export type OperationService = ReturnType<typeof createOperationService>;
