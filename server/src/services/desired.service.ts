import type { Db } from '../db/index.ts';
import type { ManifestService } from './manifest.service.ts';
import { AppError, notFound } from '../lib/errors.ts';

export interface GroupDesired {
  version: number;
  enabled: string[];
  /** the signed envelopes of the enabled patches: the agent verifies each with its module's manifest */
  envelopes: { id: string; envelope: Uint8Array }[];
  /** the online-signed manifests of those patches' modules (fresh: re-signed when half their life is gone) */
  manifests: { module: string; envelope: Uint8Array }[];
  /** every root version, oldest first (the agent follows the chain from the one it pinned) */
  roots: Uint8Array[];
}

/**
 * Desired state per agent group: which patches are enabled. Every change bumps the group's
 * version in the same transaction, so a replica or an agent holding an older version knows.
 * Withdrawn patches are never part of it.
 */
export function createDesiredService({ db, manifests }: { db: Db; manifests: ManifestService }) {
  async function bump(tx: Parameters<Parameters<Db['prisma']['$transaction']>[0]>[0], group: string): Promise<number> {
    const g = await tx.groupState.upsert({ where: { groupName: group }, create: { groupName: group, version: 1 }, update: { version: { increment: 1 } } });
    return g.version;
  }
  return {
    /**
     * Enables a patch for a group, at once (an earlier delayed enablement becomes immediate) or
     * from `activeFrom` (a group policy's delay; `activateDue` makes it part of the state then).
     */
    async enable(opts: { patchId: string; group: string; byUserId: string | null; activeFrom?: Date }): Promise<number> {
      return db.prisma.$transaction(async (tx) => {
        const p = await tx.patch.findUnique({ where: { id: opts.patchId }, select: { withdrawnAt: true } });
        if (!p || p.withdrawnAt) throw notFound(`no published patch ${opts.patchId}`);
        const activeFrom = opts.activeFrom ?? null;
        await tx.patchEnablement.upsert({
          where: { patchId_groupName: { patchId: opts.patchId, groupName: opts.group } },
          create: { patchId: opts.patchId, groupName: opts.group, enabledById: opts.byUserId, activeFrom },
          update: activeFrom ? {} : { activeFrom: null },
        });
        return bump(tx, opts.group);
      });
    },

    /** Delayed enablements that are due become part of their group's state; returns the groups that moved. */
    async activateDue(now = new Date()): Promise<string[]> {
      return db.prisma.$transaction(async (tx) => {
        const due = await tx.patchEnablement.findMany({ where: { activeFrom: { lte: now } }, select: { patchId: true, groupName: true } });
        if (due.length === 0) return [];
        await tx.patchEnablement.updateMany({ where: { activeFrom: { lte: now } }, data: { activeFrom: null } });
        const groups = [...new Set(due.map((d) => d.groupName))];
        for (const g of groups) await bump(tx, g);
        return groups;
      });
    },

    /** Bumps every group that has `patchId` (its content or standing changed, e.g. withdrawn); returns them. */
    async touchPatch(patchId: string): Promise<string[]> {
      return db.prisma.$transaction(async (tx) => {
        const rows = await tx.patchEnablement.findMany({ where: { patchId }, select: { groupName: true } });
        for (const r of rows) await bump(tx, r.groupName);
        return rows.map((r) => r.groupName);
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

    /** The groups that have a patch enabled (activeFrom: a group policy's delay runs until then). */
    async enabledGroups(patchId: string): Promise<{ group: string; enabledAt: Date; activeFrom: Date | null }[]> {
      const rows = await db.prisma.patchEnablement.findMany({ where: { patchId }, orderBy: { groupName: 'asc' } });
      return rows.map((r) => ({ group: r.groupName, enabledAt: r.enabledAt, activeFrom: r.activeFrom }));
    },

    async versions(groups: string[]): Promise<Map<string, number>> {
      const rows = await db.prisma.groupState.findMany({ where: { groupName: { in: groups } } });
      return new Map(rows.map((r) => [r.groupName, r.version]));
    },

    async forGroup(group: string): Promise<GroupDesired> {
      // The version first, then the state, never both at once: every change bumps the version
      // in its own transaction, so the state read afterwards is at least as new as the version
      // says. Read together, a change committing in between could be labelled with its own new
      // version but missing from the state, and no replica would ever send it again.
      const g = await db.prisma.groupState.findUnique({ where: { groupName: group } });
      const rows = await db.prisma.patchEnablement.findMany({ where: { groupName: group, activeFrom: null, patch: { withdrawnAt: null } }, include: { patch: { select: { envelope: true, moduleSha256: true } } }, orderBy: { patchId: 'asc' } });
      // A root that no longer names this server's online key: agents would refuse our manifests,
      // but they must still learn what is disabled or withdrawn, so the state goes out without them.
      const signed = await manifests.batch([...new Set(rows.map((r) => r.patch.moduleSha256))]).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'online-key-not-in-root') return new Map<string, Uint8Array>();
        throw err;
      });
      const roots = await db.prisma.rootVersion.findMany({ orderBy: { version: 'asc' }, select: { envelope: true } });
      return {
        version: g?.version ?? 0,
        enabled: rows.map((r) => r.patchId),
        envelopes: rows.map((r) => ({ id: r.patchId, envelope: new Uint8Array(r.patch.envelope) })),
        manifests: [...signed].map(([module, envelope]) => ({ module, envelope })),
        roots: roots.map((r) => new Uint8Array(r.envelope)),
      };
    },
  };
}
export type DesiredService = ReturnType<typeof createDesiredService>;
