import { Prisma, type Db } from '../db/index.ts';
import type { WebhookEvent } from '../siem/index.ts';
import { settled, siemEventView, withContext, type SiemEventRow } from './event-view.ts';

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

/**
 * A time window of up to this many events gets exact seq bounds from one index-only scan of
 * (at, seq): about 5 ms for that many entries (server/bench/siem.bench.ts, 1,000,000 events).
 */
const WINDOW_SCAN = 50_000;
const MAX_SEQ = 9223372036854775807n;

const inWindow = (f: EventFilter): Prisma.Sql =>
  Prisma.join([...(f.since ? [Prisma.sql`"at" >= ${f.since}`] : []), ...(f.until ? [Prisma.sql`"at" < ${f.until}`] : [])], ' AND ');

/**
 * `b`: a row (lo, hi) such that every event in the time window has lo <= seq <= hi. A page then
 * walks the seq index from its cursor to hi, and the real `at` test stays: `at` is the agent's
 * clock and seq the order of arrival, so they are not monotonic together (a late report, a
 * clock that is off) and a bound taken from the `at` order alone could drop events. The bounds
 * are exact min/max, from the cheapest scan that gives them:
 *   - a window of fewer than `k` (WINDOW_SCAN) events: its min and max seq (index-only scan of it);
 *   - else, when fewer than `k` events lie outside it: no bound (walking the seq index
 *     passes fewer than that many non-matching events);
 *   - else the min and max seq of the whole window (index-only, larger).
 * The planner cannot do this itself: it assumes matching rows spread evenly over seq, so for
 * `since=<yesterday>` it walks ~970,000 rows from the start of the log.
 */
function windowBounds(f: EventFilter, k: number): Prisma.Sql {
  const outside = [...(f.since ? [Prisma.sql`SELECT 1 FROM "AgentEvent" WHERE "at" < ${f.since}`] : []), ...(f.until ? [Prisma.sql`SELECT 1 FROM "AgentEvent" WHERE "at" >= ${f.until}`] : [])];
  return Prisma.sql`
    capped AS (SELECT count(*) AS n, min("seq") AS lo, max("seq") AS hi FROM (SELECT "seq" FROM "AgentEvent" WHERE ${inWindow(f)} LIMIT ${k}) w),
    outside AS (SELECT count(*) AS n FROM (${Prisma.join(outside, ' UNION ALL ')} LIMIT ${k}) o),
    whole AS (SELECT min("seq" + 0) AS lo, max("seq" + 0) AS hi FROM "AgentEvent" WHERE ${inWindow(f)}),
    b AS (SELECT
      CASE WHEN c.n < ${k} THEN coalesce(c.lo, 1) WHEN (SELECT n FROM outside) < ${k} THEN 0 ELSE (SELECT lo FROM whole) END AS lo,
      CASE WHEN c.n < ${k} THEN coalesce(c.hi, 0) WHEN (SELECT n FROM outside) < ${k} THEN ${MAX_SEQ} ELSE (SELECT hi FROM whole) END AS hi
      FROM capped c)`;
}

function where(f: EventFilter, afterSeq: bigint | undefined): Prisma.Sql {
  const c: Prisma.Sql[] = [settled('e."receivedAt"')];
  if (afterSeq !== undefined) c.push(Prisma.sql`e."seq" > ${afterSeq}`);
  if (f.since || f.until) c.push(Prisma.sql`e."seq" BETWEEN (SELECT lo FROM b) AND (SELECT hi FROM b)`);
  if (f.since) c.push(Prisma.sql`e."at" >= ${f.since}`);
  if (f.until) c.push(Prisma.sql`e."at" < ${f.until}`);
  if (f.types?.length === 1) c.push(Prisma.sql`e."type" = ${f.types[0]}`);
  else if (f.types?.length) c.push(Prisma.sql`e."type" IN (${Prisma.join(f.types)})`);
  if (f.agentId) c.push(Prisma.sql`e."agentId" = ${f.agentId}::uuid`);
  if (f.patchId) c.push(Prisma.sql`e."patchId" = ${f.patchId}`);
  // Patches are few: their ids resolved first (an array, not a semi-join, which gets a parallel
  // plan) let the (patchId, seq) index or the seq walk drive the scan.
  if (f.cve) c.push(Prisma.sql`e."patchId" = ANY(ARRAY(SELECT "id" FROM "Patch" WHERE ${f.cve} = ANY("cves")))`);
  if (f.severities?.length) c.push(Prisma.sql`e."patchId" = ANY(ARRAY(SELECT "id" FROM "Patch" WHERE "severity" IN (${Prisma.join(f.severities)})))`);
  if (f.group) c.push(Prisma.sql`e."agentId" IN (SELECT "id" FROM "Agent" WHERE "groupName" = ${f.group})`);
  return Prisma.sql`WHERE ${Prisma.join(c, ' AND ')}`;
}

/**
 * The append-only agent event log as the SIEM reads it: each event with its agent's hostname
 * and group and its patch's CVEs and severity (the same fields as the webhook events), in seq
 * order, once settled (see `settled`). Keyset pagination on seq: a page is an index range scan,
 * never OFFSET or COUNT.
 */
export function createSiemEventService({ db, windowScan = WINDOW_SCAN }: { db: Db; /** see windowBounds */ windowScan?: number }) {
  return {
    async list(opts: { filter: EventFilter; afterSeq?: bigint; limit: number }): Promise<WebhookEvent[]> {
      const f = opts.filter;
      const bounds = f.since || f.until ? Prisma.sql`WITH ${windowBounds(f, windowScan)}` : Prisma.empty;
      const rows = await db.rows<SiemEventRow>(withContext(Prisma.sql`${bounds} SELECT * FROM "AgentEvent" e ${where(f, opts.afterSeq)} ORDER BY e."seq" LIMIT ${opts.limit}`));
      return rows.map(siemEventView);
    },

    /** The newest events, newest first. */
    async recent(limit: number): Promise<WebhookEvent[]> {
      const rows = await db.rows<SiemEventRow>(withContext(Prisma.sql`SELECT * FROM "AgentEvent" ORDER BY "seq" DESC LIMIT ${limit}`, 'desc'));
      return rows.map(siemEventView);
    },

    /** The seq of the newest stored event (0 when there is none): where following from "now" starts. */
    async latestSeq(): Promise<bigint> {
      const [row] = await db.prisma.$queryRaw<{ seq: bigint | null }[]>`SELECT max("seq") AS "seq" FROM "AgentEvent"`;
      return row?.seq ?? 0n;
    },
  };
}
export type SiemEventService = ReturnType<typeof createSiemEventService>;
