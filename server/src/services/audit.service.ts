import type { Db } from '../db/index.ts';
import type { Principal } from '../lib/permissions.ts';

export interface AuditInput {
  action: string;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditView {
  seq: string;
  at: string;
  actor: { id: string | null; name: string; via: string };
  action: string;
  target: { type: string; id: string };
  before: unknown;
  after: unknown;
  requestId: string | null;
  ip: string | null;
}

/** Field names whose values never reach the audit log (secrets the caller sent or got back). */
const SECRET_KEYS = /^(password|newPassword|token|secret|credential|privateKey|authorization)$/i;

/** A JSON-safe copy with secrets replaced by "[redacted]", bigint as strings, dates as ISO strings, bytes left out. */
export function auditValue(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  if (depth > 6) return '[…]';
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => auditValue(x, depth + 1));
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.test(k) ? '[redacted]' : auditValue(x, depth + 1)]));
  if (typeof v === 'string') return v.length > 2000 ? `${v.slice(0, 2000)}…` : v;
  return v;
}

/**
 * The audit log: every admin and operator action, who/what/when with the state before and
 * after. Append-only (the database refuses UPDATE, DELETE and TRUNCATE on it).
 */
export function createAuditService({ db }: { db: Db }) {
  return {
    async record(opts: { actor: Principal | null; entries: AuditInput[]; requestId?: string; ip?: string }): Promise<void> {
      if (opts.entries.length === 0) return;
      await db.prisma.auditEntry.createMany({
        data: opts.entries.map((e) => ({
          actorId: opts.actor?.userId ?? null,
          actorName: opts.actor ? opts.actor.username + (opts.actor.via === 'token' && opts.actor.tokenId ? ` (token ${opts.actor.tokenId})` : '') : 'system',
          via: opts.actor?.via ?? 'system',
          action: e.action,
          targetType: e.targetType,
          targetId: e.targetId,
          before: (auditValue(e.before) ?? undefined) as never,
          after: (auditValue(e.after) ?? undefined) as never,
          requestId: opts.requestId ?? null,
          ip: opts.ip ?? null,
        })),
      });
    },

    async list(opts: { after?: bigint; limit: number; action?: string; actorId?: string; targetType?: string; targetId?: string; from?: Date; to?: Date }): Promise<AuditView[]> {
      const rows = await db.prisma.auditEntry.findMany({
        where: {
          ...(opts.after !== undefined ? { seq: { gt: opts.after } } : {}),
          ...(opts.action ? { action: opts.action } : {}),
          ...(opts.actorId ? { actorId: opts.actorId } : {}),
          ...(opts.targetType ? { targetType: opts.targetType } : {}),
          ...(opts.targetId ? { targetId: opts.targetId } : {}),
          ...(opts.from || opts.to ? { at: { ...(opts.from ? { gte: opts.from } : {}), ...(opts.to ? { lt: opts.to } : {}) } } : {}),
        },
        orderBy: { seq: 'asc' },
        take: opts.limit,
      });
      return rows.map((r) => ({
        seq: r.seq.toString(),
        at: r.at.toISOString(),
        actor: { id: r.actorId, name: r.actorName, via: r.via },
        action: r.action,
        target: { type: r.targetType, id: r.targetId },
        before: r.before,
        after: r.after,
        requestId: r.requestId,
        ip: r.ip,
      }));
    },
  };
}
export type AuditService = ReturnType<typeof createAuditService>;
