import { Prisma, type Db } from '../db/index.ts';
import type { WebhookEvent } from '../siem/index.ts';

/** Filters of the SIEM event log (GET /events and /events/follow); every one is optional and they combine with AND. */
export interface EventFilter {
  /** `at` (the agent's clock) at or after this */
  since?: Date;
  /** `at` before this */
  until?: Date;
  types?: string[];
  agentId?: string;
  patchId?: string;
  /** the event's patch names this CVE */
  cve?: string;
  /** the event's patch has one of these severities */
  severities?: string[];
  /** the agent's group */
  group?: string;
}

type Row = {
  seq: bigint;
  eventId: string;
  type: string;
  agentId: string;
  hostname: string;
  groupName: string;
  patchId: string;
  cves: string[] | null;
  severity: string | null;
  pid: bigint;
  reason: string | null;
  detail: string | null;
  commandId: string | null;
  at: Date;
  receivedAt: Date;
};

const view = (r: Row): WebhookEvent => ({
  seq: r.seq.toString(),
  id: r.eventId,
  type: r.type as WebhookEvent['type'],
  agentId: r.agentId,
  hostname: r.hostname,
  group: r.groupName,
  patchId: r.patchId,
  cves: r.cves ?? [],
  severity: (r.severity as WebhookEvent['severity']) ?? null,
  pid: Number(r.pid),
  reason: r.reason,
  detail: r.detail,
  commandId: r.commandId,
  at: r.at.toISOString(),
  receivedAt: r.receivedAt.toISOString(),
});

function where(f: EventFilter, afterSeq: bigint | undefined): Prisma.Sql {
  const c: Prisma.Sql[] = [];
  if (afterSeq !== undefined) c.push(Prisma.sql`e."seq" > ${afterSeq}`);
  if (f.since) c.push(Prisma.sql`e."at" >= ${f.since}`);
  if (f.until) c.push(Prisma.sql`e."at" < ${f.until}`);
  if (f.types?.length === 1) c.push(Prisma.sql`e."type" = ${f.types[0]}`);
  else if (f.types?.length) c.push(Prisma.sql`e."type" IN (${Prisma.join(f.types)})`);
  if (f.agentId) c.push(Prisma.sql`e."agentId" = ${f.agentId}::uuid`);
  if (f.patchId) c.push(Prisma.sql`e."patchId" = ${f.patchId}`);
  // Patches are few: resolving them first lets the (patchId, seq) index drive the scan.
  if (f.cve) c.push(Prisma.sql`e."patchId" IN (SELECT "id" FROM "Patch" WHERE ${f.cve} = ANY("cves"))`);
  if (f.severities?.length) c.push(Prisma.sql`e."patchId" IN (SELECT "id" FROM "Patch" WHERE "severity" IN (${Prisma.join(f.severities)}))`);
  if (f.group) c.push(Prisma.sql`e."agentId" IN (SELECT "id" FROM "Agent" WHERE "groupName" = ${f.group})`);
  return c.length ? Prisma.sql`WHERE ${Prisma.join(c, ' AND ')}` : Prisma.empty;
}

/**
 * The append-only agent event log as the SIEM reads it: each event with its agent's hostname
 * and group and its patch's CVEs and severity (the same fields as the webhook events), in seq
 * order. Keyset pagination on seq: a page is an index range scan, never OFFSET or COUNT.
 */
export function createSiemEventService({ db }: { db: Db }) {
  return {
    async list(opts: { filter: EventFilter; afterSeq?: bigint; limit: number }): Promise<WebhookEvent[]> {
      const rows = await db.prisma.$queryRaw<Row[]>`
        SELECT e."seq", e."eventId", e."type", e."agentId", a."hostname", a."groupName", e."patchId", p."cves", p."severity",
               e."pid", e."reason", e."detail", e."commandId", e."at", e."receivedAt"
        FROM (SELECT * FROM "AgentEvent" e ${where(opts.filter, opts.afterSeq)} ORDER BY e."seq" LIMIT ${opts.limit}) e
        JOIN "Agent" a ON a."id" = e."agentId"
        LEFT JOIN "Patch" p ON p."id" = e."patchId"
        ORDER BY e."seq"`;
      return rows.map(view);
    },

    /** The newest events, newest first. */
    async recent(limit: number): Promise<WebhookEvent[]> {
      const rows = await db.prisma.$queryRaw<Row[]>`
        SELECT e."seq", e."eventId", e."type", e."agentId", a."hostname", a."groupName", e."patchId", p."cves", p."severity",
               e."pid", e."reason", e."detail", e."commandId", e."at", e."receivedAt"
        FROM (SELECT * FROM "AgentEvent" ORDER BY "seq" DESC LIMIT ${limit}) e
        JOIN "Agent" a ON a."id" = e."agentId"
        LEFT JOIN "Patch" p ON p."id" = e."patchId"
        ORDER BY e."seq" DESC`;
      return rows.map(view);
    },

    /** The seq of the newest stored event (0 when there is none): where following from "now" starts. */
    async latestSeq(): Promise<bigint> {
      const [row] = await db.prisma.$queryRaw<{ seq: bigint | null }[]>`SELECT max("seq") AS "seq" FROM "AgentEvent"`;
      return row?.seq ?? 0n;
    },
  };
}
export type SiemEventService = ReturnType<typeof createSiemEventService>;
