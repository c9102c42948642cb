import { createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { sha256Hex, toBase64 } from '@suture/shared/encoding';
import { Prisma, type Db } from '../db/index.ts';
import { createBatcher } from '../lib/batcher.ts';
import { conflict, notFound, unauthorized } from '../lib/errors.ts';
import type { Principal } from '../lib/permissions.ts';
import type { RootService } from './root.service.ts';
import { isOnline, onlineWhere } from './agent-status.service.ts';
import type { GroupService } from './group.service.ts';

export const ENROLLMENT_PREFIX = 'sut_enr_';
export const CREDENTIAL_PREFIX = 'sut_agt_';
const AUDIENCE = 'suture-agent';
const ISSUER = 'suture-server';

export interface EnrollmentTokenView {
  id: string;
  name: string;
  /** null: the group rules decide */
  group: string | null;
  maxUses: number;
  uses: number;
  expiresAt: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface AgentView {
  id: string;
  hostname: string;
  os: string;
  arch: string;
  version: string;
  group: string;
  tags: string[];
  enrolledAt: string;
  lastSeenAt: string | null;
  online: boolean;
  connectedAt: string | null;
  disconnectedAt: string | null;
  revokedAt: string | null;
}

type TokenRow = { id: string; name: string; groupName: string | null; maxUses: number; uses: number; expiresAt: Date; createdAt: Date; revokedAt: Date | null };
type AgentRow = { id: string; hostname: string; os: string; arch: string; version: string; groupName: string; tags: string[]; enrolledAt: Date; lastSeenAt: Date | null; connectedAt: Date | null; disconnectedAt: Date | null; revokedAt: Date | null };
const iso = (d: Date | null) => d?.toISOString() ?? null;
const tokenView = (t: TokenRow): EnrollmentTokenView => ({
  id: t.id,
  name: t.name,
  group: t.groupName,
  maxUses: t.maxUses,
  uses: t.uses,
  expiresAt: t.expiresAt.toISOString(),
  createdAt: t.createdAt.toISOString(),
  revokedAt: iso(t.revokedAt),
});
const agentView = (a: AgentRow): AgentView => ({
  id: a.id,
  hostname: a.hostname,
  os: a.os,
  arch: a.arch,
  version: a.version,
  group: a.groupName,
  tags: a.tags,
  enrolledAt: a.enrolledAt.toISOString(),
  lastSeenAt: iso(a.lastSeenAt),
  online: !a.revokedAt && isOnline(a),
  connectedAt: iso(a.connectedAt),
  disconnectedAt: iso(a.disconnectedAt),
  revokedAt: iso(a.revokedAt),
});

/** What an agent is, as the server authenticates it on the socket. */
export interface AgentPrincipal {
  agentId: string;
  group: string;
}

/**
 * Enrollment and agent identity: admins create enrollment tokens (a group, a number of uses, an
 * expiry, revocable); an agent exchanges one once for its own credential (stored hashed) and the
 * current root; the credential buys short-lived agent JWTs; revoking an agent refuses it from
 * then on (the JWT check re-reads the agent row).
 */
export function createAgentService(deps: { db: Db; roots: RootService; groups: GroupService; secret: string; jwtTtlSeconds: number }) {
  const { db } = deps;
  // Made once: given the string, jsonwebtoken builds a key object on every sign and verify.
  const key = createSecretKey(Buffer.from(deps.secret, 'utf8'));
  // The revocation check of every socket upgrade (thousands at once in a reconnect storm):
  // the upgrades arriving together share one query, each read started after its callers came.
  const standing = createBatcher<string, Map<string, { groupName: string; revoked: boolean }>>({
    maxBatch: 5000,
    async flush(ids) {
      // On the driver, not through Prisma: in a storm this runs hundreds of times a second.
      const rows = await db.rows<{ id: string; groupName: string; revoked: boolean }>(
        Prisma.sql`SELECT "id", "groupName", "revokedAt" IS NOT NULL AS revoked FROM "Agent" WHERE "id" IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify([...new Set(ids)])}::jsonb))`,
      );
      return new Map(rows.map((r) => [r.id, r]));
    },
  });
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  /** The agent's row (group, revocation), or undefined: one bad id must not fail its batch. */
  const standingOf = async (id: string) => (UUID.test(id) ? (await standing.add(id)).get(id) : undefined);
  function issue(a: AgentPrincipal): { token: string; expiresAt: string } {
    const token = jwt.sign({ typ: 'agent', grp: a.group }, key, { algorithm: 'HS256', subject: a.agentId, audience: AUDIENCE, issuer: ISSUER, expiresIn: deps.jwtTtlSeconds });
    return { token, expiresAt: new Date(Date.now() + deps.jwtTtlSeconds * 1000).toISOString() };
  }
  return {
    async createEnrollmentToken(opts: { creator: Principal; name: string; group?: string; maxUses: number; expiresInHours: number }) {
      const secret = ENROLLMENT_PREFIX + randomBytes(32).toString('base64url');
      const row = await db.prisma.enrollmentToken.create({
        data: {
          name: opts.name,
          groupName: opts.group ?? null,
          tokenHash: sha256Hex(secret),
          maxUses: opts.maxUses,
          expiresAt: new Date(Date.now() + opts.expiresInHours * 3_600_000),
          createdById: opts.creator.userId,
        },
      });
      return { ...tokenView(row), token: secret };
    },

    async listEnrollmentTokens(): Promise<EnrollmentTokenView[]> {
      return (await db.prisma.enrollmentToken.findMany({ orderBy: { createdAt: 'desc' }, take: 1000 })).map(tokenView);
    },

    async revokeEnrollmentToken(id: string): Promise<EnrollmentTokenView> {
      const row = await db.prisma.enrollmentToken.findUnique({ where: { id } });
      if (!row) throw notFound(`no enrollment token ${id}`);
      if (row.revokedAt) return tokenView(row);
      return tokenView(await db.prisma.enrollmentToken.update({ where: { id }, data: { revokedAt: new Date() } }));
    },

    /**
     * Spends one use of an enrollment token (atomically: two agents racing for the last use get
     * one each of success and refusal) and creates the agent with a fresh credential. The use is
     * spent by one conditional UPDATE at the end of the transaction, so concurrent enrollments
     * hold the token row's lock only for their commit, not for the whole transaction.
     */
    async enroll(opts: { token: string; hostname: string; os: string; arch: string; version: string; tags?: string[] }) {
      const root = await deps.roots.current();
      if (!root) throw conflict('no root has been published yet: an agent needs one to trust anything; publish a root first', 'no-root');
      const refused = () => unauthorized('the enrollment token is unknown, expired, revoked or used up: ask an admin for a new one');
      const tokenHash = sha256Hex(opts.token);
      const credential = CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
      const agent = await db.prisma.$transaction(async (tx) => {
        const t = await tx.enrollmentToken.findUnique({ where: { tokenHash }, select: { id: true, groupName: true } });
        if (!t) throw refused();
        const tags = [...new Set(opts.tags ?? [])];
        const groupName = await deps.groups.resolve({ tokenGroup: t.groupName, os: opts.os, hostname: opts.hostname, tags }, tx);
        const created = await tx.agent.create({
          data: { hostname: opts.hostname, os: opts.os, arch: opts.arch, version: opts.version, groupName, tags, credentialHash: sha256Hex(credential), enrollmentTokenId: t.id },
        });
        const spent = await tx.$executeRaw`
          UPDATE "EnrollmentToken" SET "uses" = "uses" + 1
          WHERE "id" = ${t.id}::uuid AND "revokedAt" IS NULL AND "expiresAt" > now() AND "uses" < "maxUses"`;
        if (spent !== 1) throw refused(); // rolls the agent back
        return created;
      });
      return { agent: agentView(agent), credential, root: toBase64(root.bytes) };
    },

    /** Exchanges an agent's credential for a short-lived JWT. */
    async session(opts: { agentId: string; credential: string }): Promise<{ token: string; expiresAt: string }> {
      const a = await db.prisma.agent.findUnique({ where: { id: opts.agentId } });
      const ok = a && timingSafeEqual(Buffer.from(a.credentialHash), Buffer.from(sha256Hex(opts.credential)));
      if (!a || !ok || a.revokedAt) throw unauthorized('unknown or revoked agent credential: enroll the agent again');
      await db.prisma.agent.update({ where: { id: a.id }, data: { lastSeenAt: new Date() } });
      return issue({ agentId: a.id, group: a.groupName });
    },

    /** A fresh token for an agent already authenticated (renewal over its socket). */
    issue,

    /** The agent behind a JWT, or null (bad, expired, or the agent was revoked since). */
    async authenticate(token: string): Promise<AgentPrincipal | null> {
      let sub: string;
      try {
        const claims = jwt.verify(token, key, { algorithms: ['HS256'], audience: AUDIENCE, issuer: ISSUER });
        if (typeof claims === 'string' || claims.typ !== 'agent' || !claims.sub) return null;
        sub = claims.sub;
      } catch {
        return null;
      }
      const a = await standingOf(sub);
      return a && !a.revoked ? { agentId: sub, group: a.groupName } : null;
    },

    async active(agentId: string): Promise<boolean> {
      const a = await standingOf(agentId);
      return !!a && !a.revoked;
    },

    async list(opts: { after?: string; limit: number; group?: string; os?: string; status?: 'online' | 'offline' | 'revoked'; lastSeenBefore?: Date; lastSeenAfter?: Date }): Promise<AgentView[]> {
      const online = onlineWhere();
      const status =
        opts.status === 'online' ? online
        : opts.status === 'offline' ? { revokedAt: null, NOT: online }
        : opts.status === 'revoked' ? { revokedAt: { not: null } }
        : {};
      // Never seen counts as seen "before" any time; AND keeps these apart from the status filter's own lastSeenAt.
      const seen = [
        ...(opts.lastSeenBefore ? [{ OR: [{ lastSeenAt: null }, { lastSeenAt: { lt: opts.lastSeenBefore } }] }] : []),
        ...(opts.lastSeenAfter ? [{ lastSeenAt: { gte: opts.lastSeenAfter } }] : []),
      ];
      const rows = await db.prisma.agent.findMany({
        where: { ...(opts.group ? { groupName: opts.group } : {}), ...(opts.os ? { os: opts.os } : {}), ...status, ...(opts.after ? { id: { gt: opts.after } } : {}), ...(seen.length ? { AND: seen } : {}) },
        orderBy: { id: 'asc' },
        take: opts.limit,
      });
      return rows.map(agentView);
    },

    async get(id: string): Promise<AgentView> {
      const row = await db.prisma.agent.findUnique({ where: { id } });
      if (!row) throw notFound(`no agent ${id}`);
      return agentView(row);
    },

    async revoke(id: string): Promise<AgentView> {
      const row = await db.prisma.agent.findUnique({ where: { id } });
      if (!row) throw notFound(`no agent ${id}`);
      if (row.revokedAt) return agentView(row);
      return agentView(await db.prisma.agent.update({ where: { id }, data: { revokedAt: new Date() } }));
    },
  };
}
export type AgentService = ReturnType<typeof createAgentService>;
