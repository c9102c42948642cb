import { randomUUID } from 'node:crypto';
import { Prisma, type Db } from '../db/index.ts';
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
const MAX_TARGETS = 200_000;

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
      const scope = 'fleet' in opts.scope ? 'fleet' : 'group' in opts.scope ? `group:${opts.scope.group}` : `agent:${opts.scope.agentId}`;
      const id = randomUUID();
      const filter = 'fleet' in opts.scope ? Prisma.sql`TRUE` : 'group' in opts.scope ? Prisma.sql`a."groupName" = ${opts.scope.group}` : Prisma.sql`a."id" = ${opts.scope.agentId}::uuid`;
      // One statement on the driver for the operation and all its targets (a fleet is many
      // thousands of rows; every agent's latency counts from createdAt, so no transaction's
      // round trips). Nothing is written when the scope is too large or names no active agent.
      const [r] = await db.rows<{ count: number; agentIds: string[] }>(
        Prisma.sql`WITH cand AS MATERIALIZED (SELECT a."id" FROM "Agent" a WHERE a."revokedAt" IS NULL AND ${filter}),
           n AS (SELECT count(*)::int AS n FROM cand),
           op AS (
             INSERT INTO "Operation" ("id", "kind", "patchId", "scope", "createdById", "createdAt")
             SELECT ${id}::uuid, 'unapply', ${opts.patchId}, ${scope}, ${opts.creator.userId}::uuid, ${new Date().toISOString()}::timestamp(3)
             FROM n WHERE n.n BETWEEN ${'agentId' in opts.scope ? 1 : 0} AND ${MAX_TARGETS}
             RETURNING "id"
           ),
           t AS (INSERT INTO "OperationTarget" ("operationId", "agentId", "status") SELECT op."id", cand."id", 'pending' FROM op, cand RETURNING "agentId")
         SELECT n.n AS "count", (SELECT COALESCE(json_agg(t."agentId"), '[]'::json) FROM t) AS "agentIds" FROM n`,
      );
      if ('agentId' in opts.scope && r!.count === 0) throw notFound(`no active agent ${opts.scope.agentId}`);
      if (r!.count > MAX_TARGETS) throw badRequest(`too many agents in one operation (at most ${MAX_TARGETS}); narrow it to a group`);
      return { id, agentIds: r!.agentIds };
    },

    /** Pending commands of agents (sent on every connect), oldest first, at most 1,000 per agent. */
    async pendingFor(agentIds: string[]): Promise<Map<string, { id: string; patchId: string }[]>> {
      const out = new Map<string, { id: string; patchId: string }[]>(agentIds.map((a) => [a, []]));
      if (agentIds.length === 0) return out;
      // On the driver: every hello of a reconnect storm goes through here (batched).
      const rows = await db.rows<{ agentId: string; operationId: string; patchId: string }>(
        Prisma.sql`SELECT t."agentId", t."operationId", o."patchId" FROM "OperationTarget" t JOIN "Operation" o ON o."id" = t."operationId"
          WHERE t."agentId" IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(agentIds)}::jsonb)) AND t."status" = 'pending' ORDER BY o."createdAt", o."id"`,
      );
      for (const r of rows) {
        const list = out.get(r.agentId)!;
        if (list.length < 1000) list.push({ id: r.operationId, patchId: r.patchId });
      }
      return out;
    },

    /** Pending targets among `agentIds` (the hub knows which of their sockets still miss them). */
    async pendingAmong(agentIds: string[]): Promise<{ agentId: string; id: string; patchId: string }[]> {
      if (agentIds.length === 0) return [];
      const rows = await db.prisma.operationTarget.findMany({
        where: { agentId: { in: agentIds }, status: 'pending' },
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
