import type { Db } from '../db/index.ts';
import { badRequest, conflict, notFound } from '../lib/errors.ts';
import type { Principal } from '../lib/permissions.ts';
import type { GroupService } from './group.service.ts';
import { judgeStage, stageFigures, type StageFigures } from './rollout-stage.ts';

export type RolloutStatus = 'scheduled' | 'running' | 'paused' | 'halted' | 'completed' | 'aborted';
const ACTIVE: RolloutStatus[] = ['scheduled', 'running', 'paused', 'halted'];

export interface RolloutCriteria {
  stageMinutes: number;
  minAppliedShare: number;
  maxFailures: number;
  maxCrashes: number;
}

export interface RolloutView {
  id: string;
  patchId: string;
  status: RolloutStatus;
  haltReason: string | null;
  startAt: string;
  createdAt: string;
  endedAt: string | null;
  criteria: RolloutCriteria;
  unapplyOnAbort: boolean;
  currentStage: number;
  stages: ({ position: number; ring: number; groups: string[]; status: string; startedAt: string | null; endedAt: string | null } & StageFigures)[];
}

const include = { stages: { orderBy: { position: 'asc' as const } } };
type Row = NonNullable<Awaited<ReturnType<Db['prisma']['rollout']['findUnique']>>> & { stages: { position: number; ring: number; groups: string[]; status: string; startedAt: Date | null; endedAt: Date | null; agents: number; applicable?: number; applied: number; failures: number; crashes: number }[] };
const iso = (d: Date | null) => d?.toISOString() ?? null;
const view = (r: Row): RolloutView => ({
  id: r.id,
  patchId: r.patchId,
  status: r.status as RolloutStatus,
  haltReason: r.haltReason,
  startAt: r.startAt.toISOString(),
  createdAt: r.createdAt.toISOString(),
  endedAt: iso(r.endedAt),
  criteria: { stageMinutes: r.stageMinutes, minAppliedShare: r.minAppliedShare, maxFailures: r.maxFailures, maxCrashes: r.maxCrashes },
  unapplyOnAbort: r.unapplyOnAbort,
  currentStage: r.currentStage,
  stages: r.stages.map((s) => ({ position: s.position, ring: s.ring, groups: s.groups, status: s.status, startedAt: iso(s.startedAt), endedAt: iso(s.endedAt), agents: s.agents, applied: s.applied, failures: s.failures, crashes: s.crashes })),
});

/**
 * Staged rollouts: a patch goes through the rings in order. Each stage enables the patch for
 * its groups, waits `stageMinutes`, and passes only if at least `minAppliedShare` of the
 * stage's agents that load the module have it applied everywhere; more failures or crashes than
 * allowed (crashes of any ring reached so far) halt it at once, with the reason. Every state
 * change is a conditional update on (status, stage), so replicas driving the same rollout never
 * make a transition twice.
 */
export function createRolloutService(deps: { db: Db; groups: GroupService; enable: (opts: { patchId: string; groups: string[] }) => Promise<void> }) {
  const { db } = deps;
  const load = async (id: string) => {
    const r = await db.prisma.rollout.findUnique({ where: { id }, include });
    if (!r) throw notFound(`no rollout ${id}`);
    return r as Row;
  };
  /** Moves `id` from `from` (status, and stage when given) to `data`; false when another replica (or call) got there first. */
  const transition = async (id: string, from: { status: RolloutStatus[]; stage?: number }, data: object) =>
    (await db.prisma.rollout.updateMany({ where: { id, status: { in: from.status }, ...(from.stage !== undefined ? { currentStage: from.stage } : {}) }, data })).count === 1;

  let touched = new Set<string>(); // groups whose desired state a pass changed
  async function startStage(r: Row, position: number, now: Date): Promise<void> {
    const stage = r.stages[position]!;
    await deps.enable({ patchId: r.patchId, groups: stage.groups });
    stage.groups.forEach((g) => touched.add(g));
    await db.prisma.rolloutStage.updateMany({ where: { rolloutId: r.id, position, status: 'pending' }, data: { status: 'running', startedAt: now } });
  }

  async function halt(r: Row, reason: string, now: Date, figures: StageFigures): Promise<void> {
    if (!(await transition(r.id, { status: ['running'], stage: r.currentStage }, { status: 'halted', haltReason: reason }))) return;
    await db.prisma.rolloutStage.update({ where: { rolloutId_position: { rolloutId: r.id, position: r.currentStage } }, data: { status: 'halted', endedAt: now, ...figures } });
  }

  /** One step for one rollout: start it when due, record the stage's figures, halt, pass or complete. */
  async function advanceOne(r: Row, now: Date): Promise<void> {
    if (r.status === 'scheduled') {
      if (r.startAt > now) return;
      if (await transition(r.id, { status: ['scheduled'] }, { status: 'running', currentStage: 0 })) await startStage(r, 0, now);
      return;
    }
    if (r.status !== 'running') return;
    const stage = r.stages[r.currentStage]!;
    if (stage.status === 'pending') return void (await startStage(r, r.currentStage, now)); // a replica died between the two writes
    const figures = await stageFigures(db, { patchId: r.patchId, groups: stage.groups, allGroups: r.stages.slice(0, r.currentStage + 1).flatMap((s) => s.groups), stageStart: stage.startedAt ?? now });
    const verdict = judgeStage({ figures, criteria: r, elapsedMs: now.getTime() - (stage.startedAt ?? now).getTime(), ring: stage.ring });
    if (verdict.kind === 'halt') return halt(r, verdict.reason, now, figures);
    if (verdict.kind === 'wait') return void (await db.prisma.rolloutStage.update({ where: { rolloutId_position: { rolloutId: r.id, position: stage.position } }, data: figures }));
    const last = r.currentStage === r.stages.length - 1;
    if (!(await transition(r.id, { status: ['running'], stage: r.currentStage }, last ? { status: 'completed', endedAt: now } : { currentStage: r.currentStage + 1 }))) return;
    await db.prisma.rolloutStage.update({ where: { rolloutId_position: { rolloutId: r.id, position: stage.position } }, data: { status: 'passed', endedAt: now, ...figures } });
    if (!last) await startStage(r, r.currentStage + 1, now);
  }

  return {
    async create(opts: { creator: Principal; patchId: string; criteria: RolloutCriteria; startAt?: Date; unapplyOnAbort?: boolean }): Promise<RolloutView> {
      const patch = await db.prisma.patch.findUnique({ where: { id: opts.patchId }, select: { withdrawnAt: true } });
      if (!patch || patch.withdrawnAt) throw notFound(`no published patch ${opts.patchId}`);
      const rings = await deps.groups.rings();
      if (rings.length === 0) throw badRequest('no group is in a ring yet: give groups a ring first (PUT /api/v1/groups/<name> with "ring")', 'no-rings');
      const active = await db.prisma.rollout.findFirst({ where: { patchId: opts.patchId, status: { in: ACTIVE } }, select: { id: true } });
      if (active) throw conflict(`patch ${opts.patchId} already has rollout ${active.id} in progress: resume or abort it first`, 'rollout-in-progress');
      const r = await db.prisma.rollout.create({
        data: {
          patchId: opts.patchId,
          status: 'scheduled',
          startAt: opts.startAt ?? new Date(),
          ...opts.criteria,
          unapplyOnAbort: opts.unapplyOnAbort ?? false,
          createdById: opts.creator.userId,
          stages: { create: rings.map((ring, position) => ({ position, ring: ring.ring, groups: ring.groups, status: 'pending' })) },
        },
        include,
      });
      return view(r as Row);
    },

    async get(id: string): Promise<RolloutView> {
      return view(await load(id));
    },

    async list(opts: { after?: string; limit: number; patchId?: string; status?: RolloutStatus }): Promise<RolloutView[]> {
      const rows = await db.prisma.rollout.findMany({
        where: { ...(opts.patchId ? { patchId: opts.patchId } : {}), ...(opts.status ? { status: opts.status } : {}), ...(opts.after ? { id: { gt: opts.after } } : {}) },
        orderBy: { id: 'asc' },
        take: opts.limit,
        include,
      });
      return rows.map((r) => view(r as Row));
    },

    async pause(id: string): Promise<RolloutView> {
      if (!(await transition(id, { status: ['scheduled', 'running'] }, { status: 'paused' }))) throw conflict(`rollout ${id} is ${(await load(id)).status}: only a scheduled or running rollout can be paused`, 'rollout-state');
      return view(await load(id));
    },

    /** Paused or halted -> running; the current stage's wait starts over (an operator looked at it). */
    async resume(id: string, now = new Date()): Promise<RolloutView> {
      const r = await load(id);
      if (!(await transition(id, { status: ['paused', 'halted'], stage: r.currentStage }, { status: r.stages[r.currentStage]!.startedAt || r.startAt <= now ? 'running' : 'scheduled', haltReason: null }))) throw conflict(`rollout ${id} is ${r.status}: only a paused or halted rollout can be resumed`, 'rollout-state');
      await db.prisma.rolloutStage.updateMany({ where: { rolloutId: id, position: r.currentStage, status: { in: ['running', 'halted'] } }, data: { status: 'running', startedAt: now, endedAt: null } });
      return view(await load(id));
    },

    /** Stops the rollout for good; returns it with the groups it had enabled the patch for (to take it out there when asked). */
    async abort(id: string): Promise<{ rollout: RolloutView; enabledGroups: string[] }> {
      const r = await load(id);
      if (!(await transition(id, { status: ACTIVE }, { status: 'aborted', endedAt: new Date() }))) throw conflict(`rollout ${id} is already ${r.status}`, 'rollout-state');
      await db.prisma.rolloutStage.updateMany({ where: { rolloutId: id, status: { in: ['pending', 'running', 'halted'] } }, data: { status: 'aborted', endedAt: new Date() } });
      return { rollout: view(await load(id)), enabledGroups: r.stages.filter((s) => s.startedAt).flatMap((s) => s.groups) };
    },

    /** One pass over every rollout that may move (the scheduler calls this every few seconds); returns the groups it enabled the patch for. */
    async advance(now = new Date()): Promise<string[]> {
      touched = new Set();
      const rows = await db.prisma.rollout.findMany({ where: { status: { in: ['scheduled', 'running'] } }, include, take: 1000 });
      for (const r of rows) await advanceOne(r as Row, now);
      return [...touched];
    },
  };
}
export type RolloutService = ReturnType<typeof createRolloutService>;
