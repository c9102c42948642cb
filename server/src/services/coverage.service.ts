import { Prisma, type Db } from '../db/index.ts';
import { isOnline, ONLINE_WITHIN_MS } from './agent-status.service.ts';

export interface CoverageView {
  patchId: string;
  title: string;
  cves: string[];
  severity: string;
  status: 'published' | 'withdrawn';
  applied: number;
  vulnerable: number;
  notApplicable: number;
  agents: number;
}

export interface CoveragePointView {
  at: string;
  patchId: string | null;
  applied: number;
  vulnerable: number;
  notApplicable: number;
}

export interface VulnerableEndpointView {
  agentId: string;
  hostname: string;
  group: string;
  os: string;
  online: boolean;
  patchId: string;
  moduleSha256: string;
  moduleName: string;
  processes: number;
  applied: number;
}

/**
 * Protected: the agent's last patch status says every process that loads the module has the
 * patch applied (the same rule as a rollout stage's "applied"). Everything here counts
 * enrolled agents that are not revoked; offline agents count by what they last reported.
 */
const PROTECTED = Prisma.sql`(ap."matching" > 0 AND ap."applied" >= ap."matching")`;

/** Per patch: agents that load its module (`loading`) and of those the protected ones. */
const PER_PATCH = Prisma.sql`LATERAL (
  SELECT count(*) AS "loading", count(*) FILTER (WHERE ${PROTECTED}) AS "applied"
  FROM "AgentModule" m
  JOIN "Agent" a ON a."id" = m."agentId" AND a."revokedAt" IS NULL
  LEFT JOIN "AgentPatch" ap ON ap."agentId" = m."agentId" AND ap."patchId" = p."id"
  WHERE m."sha256" = p."moduleSha256" AND m."processes" > 0
) c`;
const AGENTS = Prisma.sql`(SELECT count(*) FROM "Agent" WHERE "revokedAt" IS NULL)`;

export function createCoverageService({ db }: { db: Db }) {
  return {
    /** Coverage per patch, by patch id (withdrawn patches only when asked, or when named). */
    async list(opts: { after?: string; limit: number; patchId?: string; cve?: string; severities?: string[]; includeWithdrawn: boolean }): Promise<CoverageView[]> {
      const c: Prisma.Sql[] = [];
      if (opts.after) c.push(Prisma.sql`p."id" > ${opts.after}`);
      if (opts.patchId) c.push(Prisma.sql`p."id" = ${opts.patchId}`);
      else if (!opts.includeWithdrawn) c.push(Prisma.sql`p."withdrawnAt" IS NULL`);
      if (opts.cve) c.push(Prisma.sql`${opts.cve} = ANY(p."cves")`);
      if (opts.severities?.length) c.push(Prisma.sql`p."severity" IN (${Prisma.join(opts.severities)})`);
      const rows = await db.prisma.$queryRaw<{ id: string; title: string; cves: string[]; severity: string; withdrawnAt: Date | null; loading: bigint; applied: bigint; agents: bigint }[]>`
        SELECT p."id", p."title", p."cves", p."severity", p."withdrawnAt", c."loading", c."applied", ${AGENTS} AS "agents"
        FROM (SELECT * FROM "Patch" p ${c.length ? Prisma.sql`WHERE ${Prisma.join(c, ' AND ')}` : Prisma.empty} ORDER BY p."id" LIMIT ${opts.limit}) p, ${PER_PATCH}
        ORDER BY p."id"`;
      return rows.map((r) => {
        const agents = Number(r.agents);
        const loading = Number(r.loading);
        const applied = Number(r.applied);
        return { patchId: r.id, title: r.title, cves: r.cves, severity: r.severity, status: r.withdrawnAt ? 'withdrawn' : 'published', applied, vulnerable: loading - applied, notApplicable: agents - loading, agents };
      });
    },

    /**
     * Endpoints exposed to a CVE: per (agent, patch) for each published patch naming it, agents
     * that load the patch's module and are not protected; keyset on (agent id, patch id).
     */
    async vulnerable(opts: { cve: string; after?: { agentId: string; patchId: string }; limit: number }): Promise<VulnerableEndpointView[]> {
      const rows = await db.prisma.$queryRaw<{ agentId: string; hostname: string; groupName: string; os: string; lastSeenAt: Date | null; connectedAt: Date | null; disconnectedAt: Date | null; patchId: string; sha256: string; name: string; processes: number; applied: number | null }[]>`
        SELECT a."id" AS "agentId", a."hostname", a."groupName", a."os", a."lastSeenAt", a."connectedAt", a."disconnectedAt",
               p."id" AS "patchId", m."sha256", m."name", m."processes", ap."applied"
        FROM "Patch" p
        JOIN "AgentModule" m ON m."sha256" = p."moduleSha256" AND m."processes" > 0
        JOIN "Agent" a ON a."id" = m."agentId" AND a."revokedAt" IS NULL
        LEFT JOIN "AgentPatch" ap ON ap."agentId" = m."agentId" AND ap."patchId" = p."id"
        WHERE ${opts.cve} = ANY(p."cves") AND p."withdrawnAt" IS NULL AND NOT coalesce(${PROTECTED}, false)
          ${opts.after ? Prisma.sql`AND (a."id", p."id") > (${opts.after.agentId}::uuid, ${opts.after.patchId})` : Prisma.empty}
        ORDER BY a."id", p."id"
        LIMIT ${opts.limit}`;
      const now = Date.now();
      return rows.map((r) => ({
        agentId: r.agentId,
        hostname: r.hostname,
        group: r.groupName,
        os: r.os,
        online: isOnline(r, now),
        patchId: r.patchId,
        moduleSha256: r.sha256,
        moduleName: r.name,
        processes: r.processes,
        applied: r.applied ?? 0,
      }));
    },

    async agentCounts(): Promise<{ total: number; online: number; offline: number; revoked: number }> {
      const since = new Date(Date.now() - ONLINE_WITHIN_MS);
      const [r] = await db.prisma.$queryRaw<{ total: bigint; online: bigint; revoked: bigint }[]>`
        SELECT count(*) AS "total",
               count(*) FILTER (WHERE "revokedAt" IS NULL AND "connectedAt" IS NOT NULL AND "disconnectedAt" IS NULL AND "lastSeenAt" > ${since}) AS "online",
               count(*) FILTER (WHERE "revokedAt" IS NOT NULL) AS "revoked"
        FROM "Agent"`;
      const total = Number(r?.total ?? 0);
      const online = Number(r?.online ?? 0);
      const revoked = Number(r?.revoked ?? 0);
      return { total, online, offline: total - online - revoked, revoked };
    },

    async patchCounts(): Promise<{ published: number; withdrawn: number }> {
      const [r] = await db.prisma.$queryRaw<{ published: bigint; withdrawn: bigint }[]>`
        SELECT count(*) FILTER (WHERE "withdrawnAt" IS NULL) AS "published", count(*) FILTER (WHERE "withdrawnAt" IS NOT NULL) AS "withdrawn" FROM "Patch"`;
      return { published: Number(r?.published ?? 0), withdrawn: Number(r?.withdrawn ?? 0) };
    },

    /** Fleet figures: coverage summed over published patches, and agents exposed to any of them. */
    async totals(): Promise<{ coverage: { applied: number; vulnerable: number; notApplicable: number }; vulnerableEndpoints: number }> {
      const [sum] = await db.prisma.$queryRaw<{ loading: bigint | null; applied: bigint | null; patches: bigint; agents: bigint }[]>`
        SELECT sum(c."loading") AS "loading", sum(c."applied") AS "applied", count(*) AS "patches", ${AGENTS} AS "agents"
        FROM "Patch" p, ${PER_PATCH} WHERE p."withdrawnAt" IS NULL`;
      const [exposed] = await db.prisma.$queryRaw<{ n: bigint }[]>`
        SELECT count(DISTINCT m."agentId") AS "n"
        FROM "Patch" p
        JOIN "AgentModule" m ON m."sha256" = p."moduleSha256" AND m."processes" > 0
        JOIN "Agent" a ON a."id" = m."agentId" AND a."revokedAt" IS NULL
        LEFT JOIN "AgentPatch" ap ON ap."agentId" = m."agentId" AND ap."patchId" = p."id"
        WHERE p."withdrawnAt" IS NULL AND NOT coalesce(${PROTECTED}, false)`;
      const loading = Number(sum?.loading ?? 0);
      const applied = Number(sum?.applied ?? 0);
      const notApplicable = Number(sum?.patches ?? 0) * Number(sum?.agents ?? 0) - loading;
      return { coverage: { applied, vulnerable: loading - applied, notApplicable }, vulnerableEndpoints: Number(exposed?.n ?? 0) };
    },

    /**
     * Records one sample per published patch at `bucket` (the start of the sampling period).
     * Replicas sampling the same period race harmlessly: the first insert wins, the others do
     * nothing. Returns the rows written (0 when another replica got there first).
     */
    async sample(bucket: Date): Promise<number> {
      return db.prisma.$executeRaw`
        INSERT INTO "CoverageSnapshot" ("patchId", "at", "applied", "vulnerable", "notApplicable")
        SELECT p."id", ${bucket}::timestamp(3), c."applied", c."loading" - c."applied", ${AGENTS} - c."loading"
        FROM "Patch" p, ${PER_PATCH}
        WHERE p."withdrawnAt" IS NULL
          AND NOT EXISTS (SELECT 1 FROM "CoverageSnapshot" s WHERE s."at" = ${bucket})
        ON CONFLICT DO NOTHING`;
    },

    /**
     * Samples over time, oldest first. For one patch: its samples; without: the fleet totals
     * (summed over the patches sampled at each moment, patchId null). Cursor: the sample time.
     */
    async history(opts: { patchId?: string; since?: Date; until?: Date; after?: Date; limit: number }): Promise<CoveragePointView[]> {
      const c: Prisma.Sql[] = [];
      if (opts.patchId) c.push(Prisma.sql`s."patchId" = ${opts.patchId}`);
      if (opts.since) c.push(Prisma.sql`s."at" >= ${opts.since}`);
      if (opts.until) c.push(Prisma.sql`s."at" < ${opts.until}`);
      if (opts.after) c.push(Prisma.sql`s."at" > ${opts.after}`);
      const w = c.length ? Prisma.sql`WHERE ${Prisma.join(c, ' AND ')}` : Prisma.empty;
      const rows = await db.prisma.$queryRaw<{ at: Date; applied: bigint | number; vulnerable: bigint | number; notApplicable: bigint | number }[]>`
        SELECT s."at", sum(s."applied") AS "applied", sum(s."vulnerable") AS "vulnerable", sum(s."notApplicable") AS "notApplicable"
        FROM "CoverageSnapshot" s ${w}
        GROUP BY s."at" ORDER BY s."at" LIMIT ${opts.limit}`;
      return rows.map((r) => ({ at: r.at.toISOString(), patchId: opts.patchId ?? null, applied: Number(r.applied), vulnerable: Number(r.vulnerable), notApplicable: Number(r.notApplicable) }));
    },
  };
}
export type CoverageService = ReturnType<typeof createCoverageService>;
