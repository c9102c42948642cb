import type { AgentEvent, InventoryModule, PatchStatusEntry } from '@suture/shared/protocol';
import { Prisma, type Db } from '../db/index.ts';
import { badRequest } from '../lib/errors.ts';
import { createBatcher } from '../lib/batcher.ts';

/**
 * What agent sockets write, group-committed: with thousands of sockets, one statement per kind
 * per batch (rows passed as one jsonb array) instead of one or more per message. Each call
 * resolves once its rows are stored.
 *
 * Events and command acknowledgements go into the same batches and the same statement, so an
 * agent's outcome events are never stored after the acknowledgement it sent behind them; an
 * event is stored once per (agent, event id) however often it is sent; an acknowledgement
 * changes a target only while it is pending, so a repeated one changes nothing.
 */

type Report =
  | { kind: 'events'; agentId: string; events: AgentEvent[] }
  | { kind: 'ack'; agentId: string; operationId: string; outcome: 'done' | 'failed'; detail?: string | undefined };
type Hello = { agentId: string; hostname: string; os: string; arch: string; version: string; inventoryDigest?: string | undefined; at: Date };
type Disconnect = { agentId: string; connectedAt: Date; at: Date };
type Inventory = { agentId: string; full: boolean; modules: InventoryModule[]; digest?: string | undefined };
type PatchStatus = { agentId: string; patches: PatchStatusEntry[] };

/** Timestamps go in as UTC ISO strings cast to `timestamp(3)` (the zone is dropped, as Prisma stores UTC). */
const ts = (d: Date) => d.toISOString();

/** PostgreSQL text cannot hold NUL; such a report is refused as a whole before it is queued. */
function refuseNul(value: unknown, what: string): void {
  const walk = (v: unknown): boolean =>
    typeof v === 'string' ? v.includes('\u0000') : Array.isArray(v) ? v.some(walk) : v !== null && typeof v === 'object' ? Object.values(v).some(walk) : false;
  if (walk(value)) throw badRequest(`${what}: text may not contain NUL characters`);
}

/**
 * A CTE `locked` that locks the pending OperationTarget rows joined from `from` in key order.
 * Every statement updating many targets takes its row locks this way, so two of them running at
 * once (acknowledgement batches of two replicas) wait for each other instead of deadlocking.
 */
const LOCK_TARGETS_IN_ORDER = (op: string, agent: string, from: string) =>
  Prisma.raw(`locked AS (SELECT t."operationId", t."agentId" FROM "OperationTarget" t JOIN ${from} ON t."operationId" = ${op} AND t."agentId" = ${agent}
     WHERE t."status" = 'pending' ORDER BY t."operationId", t."agentId" FOR UPDATE OF t)`);

export function createAgentIngestService({ db }: { db: Db }) {
  // On the driver, not through Prisma: these statements carry megabytes of rows a second. Rows
  // read once go in as `json`, not `jsonb`: PostgreSQL reads 10,000 events about twice as fast
  // from json (no binary document built first).
  const run = (sql: Prisma.Sql) => db.rows(sql);
  // Hellos, heartbeats and disconnects all update Agent rows, many per statement: one of those
  // statements at a time, or two could lock the same rows in opposite orders (a deadlock).
  let agentRows: Promise<unknown> = Promise.resolve();
  const onAgentRows = (sql: Prisma.Sql) => {
    const done = agentRows.then(() => run(sql));
    agentRows = done.catch(() => {});
    return done;
  };

  // Large batches: a fleet-wide unapply brings every agent's outcome and ack within a second.
  const reports = createBatcher<Report>({
    maxBatch: 10_000,
    async flush(items) {
      const events: object[] = [];
      const acks: object[] = [];
      const seen = new Set<string>(); // an event sent again within the batch
      for (const r of items) {
        if (r.kind === 'events') {
          for (const e of r.events) {
            if (seen.has(`${r.agentId} ${e.id}`)) continue;
            seen.add(`${r.agentId} ${e.id}`);
            events.push({ id: e.id, a: r.agentId, type: e.type, p: e.patchId, pid: e.pid, reason: e.reason ?? null, detail: e.detail ?? null, c: e.commandId ?? null, at: ts(new Date(e.at)), n: events.length });
          }
        }
        else acks.push({ op: r.operationId, a: r.agentId, status: r.outcome === 'done' ? 'acknowledged' : 'failed', detail: r.detail ?? null, n: acks.length });
      }
      // One statement (a WITH insert runs to completion whether or not it is read): both
      // writes commit together.
      await run(
        Prisma.sql`WITH ev AS (
           INSERT INTO "AgentEvent" ("eventId", "agentId", "type", "patchId", "pid", "reason", "detail", "commandId", "at", "receivedAt")
           -- receivedAt on the database clock: SIEM readers list events once settled by that clock (event-view.ts)
           SELECT e.id, e.a, e.type, e.p, e.pid, e.reason, e.detail, e.c, e.at, (now() AT TIME ZONE 'UTC')::timestamp(3)
           FROM json_to_recordset(${JSON.stringify(events)}::json) AS e(id uuid, a uuid, type text, p text, pid bigint, reason text, detail text, c uuid, at timestamp(3), n int)
           ORDER BY e.n -- the log's seq follows the order the agents sent them in
           ON CONFLICT ("agentId", "eventId") DO NOTHING
         ),
         k AS (SELECT DISTINCT ON (x.op, x.a) x.* FROM json_to_recordset(${JSON.stringify(acks)}::json) AS x(op uuid, a uuid, status text, detail text, n int) ORDER BY x.op, x.a, x.n),
         ${LOCK_TARGETS_IN_ORDER('k.op', 'k.a', 'k')}
         UPDATE "OperationTarget" t SET "status" = k.status, "detail" = k.detail, "doneAt" = ${ts(new Date())}::timestamp(3)
         FROM k JOIN locked l ON l."operationId" = k.op AND l."agentId" = k.a
         WHERE t."operationId" = k.op AND t."agentId" = k.a AND t."status" = 'pending'`,
      );
    },
  });

  // Resolves with the agents whose hello named the inventory digest stored for them.
  const hellos = createBatcher<Hello, Set<string>>({
    maxBatch: 5000,
    async flush(items) {
      const rows = items.map((h, n) => ({ id: h.agentId, hostname: h.hostname, os: h.os, arch: h.arch, version: h.version, digest: h.inventoryDigest ?? null, at: ts(h.at), n }));
      // An agent twice in one batch (it reconnected at once): its newest hello wins.
      const current = await onAgentRows(
        Prisma.sql`UPDATE "Agent" a SET "hostname" = h.hostname, "os" = h.os, "arch" = h.arch, "version" = h.version, "lastSeenAt" = h.at, "connectedAt" = h.at, "disconnectedAt" = NULL
         FROM (SELECT DISTINCT ON (x.id) x.* FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(id uuid, hostname text, os text, arch text, version text, digest text, at timestamp(3), n int) ORDER BY x.id, x.n DESC) h
         WHERE a."id" = h.id
         RETURNING a."id"::text AS id, a."inventoryDigest" = h.digest AS current`,
      );
      return new Set((current as { id: string; current: boolean | null }[]).filter((r) => r.current === true).map((r) => r.id));
    },
  });

  const seen = createBatcher<string>({
    maxBatch: 10_000,
    async flush(agentIds) {
      await onAgentRows(
        Prisma.sql`UPDATE "Agent" a SET "lastSeenAt" = ${ts(new Date())}::timestamp(3) FROM (SELECT DISTINCT value::uuid AS id FROM jsonb_array_elements_text(${JSON.stringify(agentIds)}::jsonb)) x WHERE a."id" = x.id`,
      );
    },
  });

  const disconnects = createBatcher<Disconnect>({
    maxBatch: 10_000,
    async flush(items) {
      // Only the close of the socket whose hello is recorded: a newer connection stays online.
      await onAgentRows(
        Prisma.sql`UPDATE "Agent" a SET "disconnectedAt" = d.at
         FROM (SELECT DISTINCT ON (x.id, x.c) x.* FROM jsonb_to_recordset(${JSON.stringify(items.map((d) => ({ id: d.agentId, c: ts(d.connectedAt), at: ts(d.at) })))}::jsonb) AS x(id uuid, c timestamp(3), at timestamp(3))) d
         WHERE a."id" = d.id AND a."connectedAt" = d.c`,
      );
    },
  });

  const inventories = createBatcher<Inventory>({
    maxBatch: 200,
    async flush(items) {
      // Several inventories of one agent in a batch are applied in order here, so the statement
      // below touches each (agent, module) row once: a full one replaces, a delta changes.
      const byAgent = new Map<string, { full: boolean; modules: Map<string, InventoryModule>; digest: string | null }>();
      for (const inv of items) {
        let state = byAgent.get(inv.agentId);
        if (!state || inv.full) byAgent.set(inv.agentId, (state = { full: inv.full, modules: new Map(), digest: null }));
        for (const m of inv.modules) state.modules.set(m.sha256, m);
        state.digest = inv.digest ?? null; // the last message's word on the whole set
      }
      const agents: object[] = [];
      const present: object[] = [];
      for (const [a, s] of byAgent) {
        agents.push({ a, whole: s.full, digest: s.digest, gone: [...s.modules.values()].filter((m) => m.processes === 0).map((m) => m.sha256) });
        for (const m of s.modules.values()) if (m.processes > 0) present.push({ a, sha256: m.sha256, name: m.name, processes: m.processes });
      }
      // Deleted: for a full inventory what it does not list, for a delta what it lists with
      // `processes: 0` — never a row the upsert writes, so the two never meet on one row. Rows
      // already as listed are left alone: a full inventory is mostly unchanged. The agent's digest
      // of its set is stored with the rows (null when the last message did not carry one), in the
      // same statement, so it never speaks for rows that are not there; the statement updates
      // Agent rows, so it queues with the others that do (onAgentRows).
      await onAgentRows(
        Prisma.sql`WITH p AS (SELECT * FROM json_to_recordset(${JSON.stringify(present)}::json) AS x(a uuid, sha256 text, name text, processes int)),
         g AS (SELECT * FROM jsonb_to_recordset(${JSON.stringify(agents)}::jsonb) AS x(a uuid, whole boolean, digest text, gone jsonb)),
         del AS (
           DELETE FROM "AgentModule" m USING g
           WHERE m."agentId" = g.a
             AND ((g.whole AND NOT EXISTS (SELECT 1 FROM p WHERE p.a = m."agentId" AND p.sha256 = m."sha256")) OR g.gone ? m."sha256")
         ),
         dg AS (UPDATE "Agent" ag SET "inventoryDigest" = g.digest FROM g WHERE ag."id" = g.a AND ag."inventoryDigest" IS DISTINCT FROM g.digest)
         INSERT INTO "AgentModule" ("agentId", "sha256", "name", "processes")
         SELECT p.a, p.sha256, p.name, p.processes FROM p
         ON CONFLICT ("agentId", "sha256") DO UPDATE SET "name" = EXCLUDED."name", "processes" = EXCLUDED."processes"
           WHERE ("AgentModule"."name", "AgentModule"."processes") IS DISTINCT FROM (EXCLUDED."name", EXCLUDED."processes")`,
      );
    },
  });

  const patchStatuses = createBatcher<PatchStatus>({
    maxBatch: 2000,
    async flush(items) {
      // Each report replaces the agent's last: within a batch its latest wins, and a patch listed
      // twice in one report counts as its last entry.
      const byAgent = new Map<string, Map<string, PatchStatusEntry>>();
      for (const r of items) byAgent.set(r.agentId, new Map(r.patches.map((p) => [p.patchId, p])));
      const agents = [...byAgent.keys()];
      const rows = [...byAgent].flatMap(([a, ps]) => [...ps.values()].map((p) => ({ a, patch: p.patchId, matching: p.matching, applied: p.applied, refused: p.refused, failed: p.failed, stopped: p.stopped ?? null })));
      // Deleted: the agent's patches the report does not list. Rows already as reported are left
      // alone (a reconnecting agent reports the same again), so updatedAt is when the status
      // last changed.
      await run(
        Prisma.sql`WITH p AS (SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(a uuid, patch text, matching int, applied int, refused int, failed int, stopped text)),
         g AS (SELECT DISTINCT value::uuid AS a FROM jsonb_array_elements_text(${JSON.stringify(agents)}::jsonb)),
         del AS (
           DELETE FROM "AgentPatch" ap USING g
           WHERE ap."agentId" = g.a AND NOT EXISTS (SELECT 1 FROM p WHERE p.a = ap."agentId" AND p.patch = ap."patchId")
         )
         INSERT INTO "AgentPatch" ("agentId", "patchId", "matching", "applied", "refused", "failed", "stopped", "updatedAt")
         SELECT p.a, p.patch, p.matching, p.applied, p.refused, p.failed, p.stopped, ${ts(new Date())}::timestamp(3) FROM p
         ON CONFLICT ("agentId", "patchId") DO UPDATE SET "matching" = EXCLUDED."matching", "applied" = EXCLUDED."applied", "refused" = EXCLUDED."refused",
           "failed" = EXCLUDED."failed", "stopped" = EXCLUDED."stopped", "updatedAt" = EXCLUDED."updatedAt"
           WHERE ("AgentPatch"."matching", "AgentPatch"."applied", "AgentPatch"."refused", "AgentPatch"."failed", "AgentPatch"."stopped")
             IS DISTINCT FROM (EXCLUDED."matching", EXCLUDED."applied", EXCLUDED."refused", EXCLUDED."failed", EXCLUDED."stopped")`,
      );
    },
  });

  return {
    /**
     * A socket's hello: the agent's details. Returns its connection stamp (for `disconnected`) and
     * whether the hello's inventory digest is the one stored (then no full inventory is needed).
     */
    async hello(h: Omit<Hello, 'at'>): Promise<{ at: Date; inventoryCurrent: boolean }> {
      refuseNul(h, 'hello');
      const at = new Date();
      const current = await hellos.add({ ...h, at });
      return { at, inventoryCurrent: h.inventoryDigest !== undefined && current.has(h.agentId) };
    },
    /** A heartbeat answered. */
    seen: (agentId: string) => seen.add(agentId),
    /** The socket with this hello stamp closed. */
    disconnected: (agentId: string, connectedAt: Date) => disconnects.add({ agentId, connectedAt, at: new Date() }),
    /** Stores the events not stored yet; resolves with every id now stored (to acknowledge all of them). */
    async events(agentId: string, events: AgentEvent[]): Promise<string[]> {
      refuseNul(events, 'events');
      await reports.add({ kind: 'events', agentId, events });
      return events.map((e) => e.id);
    },
    /** The agent's acknowledgement of a command (an operation). */
    async acknowledge(opts: { agentId: string; operationId: string; outcome: 'done' | 'failed'; detail?: string | undefined }): Promise<void> {
      refuseNul(opts.detail, 'command-ack');
      await reports.add({ kind: 'ack', ...opts });
    },
    /** A full inventory replaces the agent's modules; a delta upserts (`processes: 0` removes). */
    async inventory(agentId: string, inv: { full: boolean; modules: InventoryModule[]; digest?: string | undefined }): Promise<void> {
      refuseNul(inv.modules, 'inventory');
      await inventories.add({ agentId, full: inv.full, modules: inv.modules, digest: inv.digest });
    },
    /** A patch-status report: where each enabled patch stands on the host (replaces the last). */
    async patchStatus(agentId: string, patches: PatchStatusEntry[]): Promise<void> {
      refuseNul(patches, 'patch-status');
      await patchStatuses.add({ agentId, patches });
    },
    /** Resolves when everything queued so far is stored (or failed). */
    async drain(): Promise<void> {
      await Promise.all([reports, hellos, seen, disconnects, inventories, patchStatuses].map((b) => b.drain()));
    },
  };
}
export type AgentIngestService = ReturnType<typeof createAgentIngestService>;
