import type { Db } from '../db/index.ts';

/** A stage's figures: agents of its groups that load the module, of those fully applied, and the failures and crashes since the stage began. */
export interface StageFigures {
  agents: number;
  applied: number;
  failures: number;
  crashes: number;
}

/**
 * Counts for one stage. Applied: the agent's last patch status says every process that loads
 * the module has it. Failures: processes that refused or failed the patch since the stage
 * began, on agents of the rollout's groups so far. Crashes: crashes of patched processes since
 * the stage began on any of those agents (an earlier ring's crash counts at once too). A resume
 * starts the stage over, so what an operator has looked at does not halt it again.
 */
export async function stageFigures(db: Db, opts: { patchId: string; groups: string[]; allGroups: string[]; stageStart: Date }): Promise<StageFigures> {
  const [row] = await db.prisma.$queryRaw<{ agents: bigint; applied: bigint; failures: bigint; crashes: bigint }[]>`
    WITH p AS (SELECT "moduleSha256" AS sha FROM "Patch" WHERE "id" = ${opts.patchId}),
    stage AS (SELECT "id" FROM "Agent" WHERE "groupName" = ANY(${opts.groups}) AND "revokedAt" IS NULL),
    rollout AS (SELECT "id" FROM "Agent" WHERE "groupName" = ANY(${opts.allGroups}))
    SELECT
      (SELECT count(*) FROM "AgentModule" m WHERE m."sha256" = (SELECT sha FROM p) AND m."agentId" IN (SELECT "id" FROM stage)) AS agents,
      (SELECT count(*) FROM "AgentPatch" ap WHERE ap."patchId" = ${opts.patchId} AND ap."matching" > 0 AND ap."applied" >= ap."matching"
         AND ap."agentId" IN (SELECT "id" FROM stage)
         AND EXISTS (SELECT 1 FROM "AgentModule" m WHERE m."agentId" = ap."agentId" AND m."sha256" = (SELECT sha FROM p))) AS applied,
      (SELECT count(DISTINCT (e."agentId", e."pid")) FROM "AgentEvent" e WHERE e."patchId" = ${opts.patchId} AND e."type" IN ('refused', 'failed')
         AND e."receivedAt" >= ${opts.stageStart} AND e."agentId" IN (SELECT "id" FROM rollout)) AS failures,
      (SELECT count(*) FROM "AgentEvent" e WHERE e."patchId" = ${opts.patchId} AND e."type" = 'crash'
         AND e."receivedAt" >= ${opts.stageStart} AND e."agentId" IN (SELECT "id" FROM rollout)) AS crashes`;
  return { agents: Number(row!.agents), applied: Number(row!.applied), failures: Number(row!.failures), crashes: Number(row!.crashes) };
}

export type Verdict = { kind: 'wait' } | { kind: 'pass' } | { kind: 'halt'; reason: string };

/** What a stage's figures mean against the criteria: halt at once on crashes or failures, else wait out the stage, then pass or halt on the applied share. */
export function judgeStage(opts: { figures: StageFigures; criteria: { stageMinutes: number; minAppliedShare: number; maxFailures: number; maxCrashes: number }; elapsedMs: number; ring: number }): Verdict {
  const { figures: f, criteria: c } = opts;
  if (f.crashes > c.maxCrashes) return { kind: 'halt', reason: `ring ${opts.ring}: ${f.crashes} crash(es) of patched processes (at most ${c.maxCrashes} allowed)` };
  if (f.failures > c.maxFailures) return { kind: 'halt', reason: `ring ${opts.ring}: ${f.failures} process(es) refused or failed the patch (at most ${c.maxFailures} allowed)` };
  if (opts.elapsedMs < c.stageMinutes * 60_000) return { kind: 'wait' };
  const share = f.agents === 0 ? 1 : f.applied / f.agents;
  if (share >= c.minAppliedShare) return { kind: 'pass' };
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return { kind: 'halt', reason: `ring ${opts.ring}: ${f.applied} of ${f.agents} agent(s) that load the module have it applied (${pct(share)}, needs ${pct(c.minAppliedShare)}) after ${c.stageMinutes} min` };
}
