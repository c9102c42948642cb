import type { Db } from '../db/index.ts';
import { notFound } from '../lib/errors.ts';

export interface GroupDesired {
  version: number;
  enabled: string[];
  /** the signed envelopes of the enabled patches: the agent verifies each against its root */
  envelopes: { id: string; envelope: Uint8Array }[];
}

/**
 * Desired state per agent group: which patches are enabled. Every change bumps the group's
 * version in the same transaction, so a replica or an agent holding an older version knows.
 * Withdrawn patches are never part of it.
 */
export function createDesiredService({ db }: { db: Db }) {
  async function bump(tx: Parameters<Parameters<Db['prisma']['$transaction']>[0]>[0], group: string): Promise<number> {
    const g = await tx.groupState.upsert({ where: { groupName: group }, create: { groupName: group, version: 1 }, update: { version: { increment: 1 } } });
    return g.version;
  }
  return {
    async enable(opts: { patchId: string; group: string; byUserId: string }): Promise<number> {
      return db.prisma.$transaction(async (tx) => {
        const p = await tx.patch.findUnique({ where: { id: opts.patchId }, select: { withdrawnAt: true } });
        if (!p || p.withdrawnAt) throw notFound(`no published patch ${opts.patchId}`);
        await tx.patchEnablement.upsert({ where: { patchId_groupName: { patchId: opts.patchId, groupName: opts.group } }, create: { patchId: opts.patchId, groupName: opts.group, enabledById: opts.byUserId }, update: {} });
        return bump(tx, opts.group);
      });
    },

    async disable(opts: { patchId: string; group: string }): Promise<number> {
      return db.prisma.$transaction(async (tx) => {
        await tx.patchEnablement.deleteMany({ where: { patchId: opts.patchId, groupName: opts.group } });
        return bump(tx, opts.group);
      });
    },

    /** Disables a patch in every group that has it (a fleet-wide unapply); returns those groups. */
    async disableEverywhere(patchId: string): Promise<string[]> {
      return db.prisma.$transaction(async (tx) => {
        const rows = await tx.patchEnablement.findMany({ where: { patchId }, select: { groupName: true } });
        await tx.patchEnablement.deleteMany({ where: { patchId } });
        for (const r of rows) await bump(tx, r.groupName);
        return rows.map((r) => r.groupName);
      });
    },

    async versions(groups: string[]): Promise<Map<string, number>> {
      const rows = await db.prisma.groupState.findMany({ where: { groupName: { in: groups } } });
      return new Map(rows.map((r) => [r.groupName, r.version]));
    },

    async forGroup(group: string): Promise<GroupDesired> {
      const [g, rows] = await Promise.all([
        db.prisma.groupState.findUnique({ where: { groupName: group } }),
        db.prisma.patchEnablement.findMany({ where: { groupName: group, patch: { withdrawnAt: null } }, include: { patch: { select: { envelope: true } } }, orderBy: { patchId: 'asc' } }),
      ]);
      return { version: g?.version ?? 0, enabled: rows.map((r) => r.patchId), envelopes: rows.map((r) => ({ id: r.patchId, envelope: new Uint8Array(r.patch.envelope) })) };
    },
  };
}
export type DesiredService = ReturnType<typeof createDesiredService>;
