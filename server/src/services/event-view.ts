/**
 * Reading stored agent events: the one column list and the one row -> view mapping that every
 * event listing uses (an agent's events, the SIEM pull API, the SIEM sinks' feed). PostgreSQL
 * formats the values (seq and times as text), so rows come through Db.rows the same from both
 * drivers and need no BigInt or Date work per field.
 */
import { Prisma } from '../db/index.ts';
import type { SiemEventType, WebhookEvent } from '../siem/index.ts';

/** `to_char` of a timestamp(3) as Date.toISOString() writes it (UTC, milliseconds, `Z`). */
const iso = (col: string) => `to_char(${col}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The AgentEvent columns of `e`, as EventRow names them. */
export const EVENT_COLUMNS = Prisma.raw(
  `e."seq"::text AS "seq", e."eventId"::text AS "eventId", e."type", e."agentId"::text AS "agentId", e."patchId", e."pid"::float8 AS "pid", ` +
    `e."reason", e."detail", e."commandId"::text AS "commandId", ${iso('e."at"')} AS "at", ${iso('e."receivedAt"')} AS "receivedAt"`,
);

export interface EventRow {
  seq: string;
  eventId: string;
  type: string;
  agentId: string;
  patchId: string;
  pid: number;
  reason: string | null;
  detail: string | null;
  commandId: string | null;
  at: string;
  receivedAt: string;
}

/** An event with its agent (`a`) and patch (`p`, left-joined: a patch may be unknown). */
export interface SiemEventRow extends EventRow {
  hostname: string;
  groupName: string;
  cves: string[] | null;
  severity: string | null;
}

/**
 * Events stored at least a second ago (database clock; `receivedAt` is UTC). Readers that page
 * by seq (the SIEM API, its follow stream, the SIEM sinks) list only these: seq is taken when a
 * row is inserted, so a transaction still open can commit a seq lower than one already visible,
 * and a reader that had moved its cursor past it would skip that event for good.
 */
export const SETTLE_SECONDS = 1;
export const settled = (col = '"receivedAt"'): Prisma.Sql => Prisma.raw(`${col} <= (now() AT TIME ZONE 'UTC') - interval '${SETTLE_SECONDS} second'`);

/**
 * `events` selects AgentEvent rows (the whole row, e.g. `SELECT * ... ORDER BY seq LIMIT n`);
 * this adds each one's agent and patch, in seq order (`desc`: newest first).
 */
export const withContext = (events: Prisma.Sql, order: 'asc' | 'desc' = 'asc'): Prisma.Sql => Prisma.sql`
  SELECT ${EVENT_COLUMNS}, a."hostname", a."groupName", p."cves", p."severity"
  FROM (${events}) e
  JOIN "Agent" a ON a."id" = e."agentId"
  LEFT JOIN "Patch" p ON p."id" = e."patchId"
  ORDER BY e."seq" ${Prisma.raw(order === 'desc' ? 'DESC' : 'ASC')}`;

export const eventView = (r: EventRow) => ({
  seq: r.seq,
  id: r.eventId,
  type: r.type as SiemEventType,
  agentId: r.agentId,
  patchId: r.patchId,
  pid: r.pid,
  reason: r.reason,
  detail: r.detail,
  commandId: r.commandId,
  at: r.at,
  receivedAt: r.receivedAt,
});

/** An event as the SIEM API and webhooks show it (every field present, null when unknown). */
export const siemEventView = (r: SiemEventRow): WebhookEvent => ({
  ...eventView(r),
  hostname: r.hostname,
  group: r.groupName,
  cves: r.cves ?? [],
  severity: (r.severity as WebhookEvent['severity']) ?? null,
});
