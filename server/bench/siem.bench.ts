/**
 * pnpm bench:siem — the SIEM pull API (GET /api/v1/events) over a log of 1,000,000 agent events.
 *
 * Creates a fresh PostgreSQL database (on BENCH_DATABASE_URL's or TEST_DATABASE_URL's server,
 * default the local one; dropped at the end unless BENCH_KEEP_DB=1), applies the migrations and
 * seeds it in SQL (INSERT ... SELECT generate_series): 2,000 agents, 50 patches with CVEs and
 * severities, BENCH_EVENTS events (default 1,000,000) of every type, skewed across patches, `at`
 * spread over 30 days in log order. Then starts the real server as a child process (as
 * `pnpm start` does, with READ_RATE_LIMIT_PER_MINUTE raised so the limiter never answers 429),
 * creates an admin and a read-scope API token, and measures pages of 500:
 *   - full export: one client follows nextCursor from the start to null; the count must equal the
 *     seeded count and seq must strictly increase;
 *   - one client, page latency p50/p99 at random cursors across the log, unfiltered and with
 *     filters (type, patchId, a one-day time range, type + patchId);
 *   - requests/s under autocannon (BENCH_CONNECTIONS, default 8, for BENCH_DURATION_S, default
 *     15) over the same mix of random cursors and filters.
 * Progress on stderr; the last stdout line is one JSON object.
 *
 *   pnpm bench:siem
 *   BENCH_EVENTS=200000 BENCH_DURATION_S=5 pnpm bench:siem
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { freshBenchDatabase } from './bench-db.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const AGENTS = 2000;
const PATCHES = 50;
const DAYS = 30;
const LIMIT = 500;
const SAMPLES = 200; // sequential pages per kind
const READ_RATE_LIMIT = '1000000';
if (!Number.isInteger(EVENTS) || EVENTS < LIMIT || EVENTS > 50_000_000) {
  process.stderr.write(`BENCH_EVENTS must be an integer from ${LIMIT} to 50000000\n`);
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PASSWORD = 'bench password that is long enough';
const TYPES = ['applied', 'unapplied', 'refused', 'busy', 'failed', 'crash', 'adopted'];
const patchId = (n: number) => `SUT-2026-${String(n).padStart(4, '0')}`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;

/** Agents, modules, patches, then the events in chunks; `at` follows seq (as arrivals do) with jitter. */
async function seed(db: pg.Client): Promise<void> {
  await db.query(`INSERT INTO "Agent" (id, hostname, os, arch, version, "groupName", tags, "credentialHash", "enrolledAt", "lastSeenAt")
    SELECT gen_random_uuid(), 'host-' || lpad(g::text, 5, '0'), CASE WHEN g % 4 = 0 THEN 'windows' ELSE 'linux' END, 'x86_64', '0.1.0',
      (ARRAY['web', 'db', 'canary', 'desktop'])[1 + g % 4], ARRAY['bench'], md5('bench-credential-' || g), now() - interval '${DAYS + 1} days', now()
    FROM generate_series(1, ${AGENTS}) g`);
  await db.query(`INSERT INTO "Module" (sha256, name, size, platform, arch)
    SELECT encode(sha256(('bench-module-' || g)::bytea), 'hex'), 'libbench' || g || '.so', 65536, 'linux', 'x86_64' FROM generate_series(1, ${PATCHES}) g`);
  await db.query(`INSERT INTO "Patch" (id, "moduleSha256", title, severity, cves, release, "documentSha256", "documentLength", envelope, "publishedAt")
    SELECT 'SUT-2026-' || lpad(g::text, 4, '0'), encode(sha256(('bench-module-' || g)::bytea), 'hex'), 'Bench fix ' || g,
      (ARRAY['low', 'medium', 'high', 'critical'])[1 + g % 4], ARRAY['CVE-2026-' || (40000 + g), 'CVE-2025-' || (1000 + g)], 1,
      encode(sha256(('bench-doc-' || g)::bytea), 'hex'), 2, '{}'::bytea, now() - interval '${DAYS + 1} days'
    FROM generate_series(1, ${PATCHES}) g`);
  const chunk = 100_000;
  const t0 = Date.now();
  for (let from = 1; from <= EVENTS; from += chunk) {
    const to = Math.min(EVENTS, from + chunk - 1);
    // r picks the type (mostly applied), p the patch (skewed: low numbers are common), q the pid.
    await db.query(
      `WITH a AS (SELECT array_agg(id ORDER BY hostname) AS ids FROM "Agent")
       INSERT INTO "AgentEvent" ("eventId", "agentId", type, "patchId", pid, reason, detail, at, "receivedAt")
       SELECT gen_random_uuid(), a.ids[1 + floor(s.ag * ${AGENTS})::int], s.type, 'SUT-2026-' || lpad((1 + floor(${PATCHES} * s.p * s.p))::int::text, 4, '0'),
         1000 + floor(s.q * 60000)::bigint,
         CASE s.type WHEN 'refused' THEN (ARRAY['expect-mismatch', 'traced', 'module-replaced'])[1 + floor(s.q * 3)::int] WHEN 'failed' THEN 'ptrace-error' WHEN 'busy' THEN 'thread-in-region' END,
         CASE WHEN s.type IN ('refused', 'failed') THEN 'bytes at rva 0x10fc differ from expect (pid ' || floor(s.q * 60000)::int || ')' END,
         s.at, s.at + interval '200 milliseconds'
       FROM a, (SELECT g, random() AS ag, random() AS p, random() AS q,
                  CASE WHEN r < 0.60 THEN 'applied' WHEN r < 0.75 THEN 'unapplied' WHEN r < 0.85 THEN 'refused' WHEN r < 0.90 THEN 'busy'
                       WHEN r < 0.95 THEN 'failed' WHEN r < 0.98 THEN 'crash' ELSE 'adopted' END AS type,
                  now() - interval '${DAYS} days' + (g::float8 / $3) * interval '${DAYS} days' + random() * interval '30 seconds' AS at
                FROM (SELECT g, random() AS r FROM generate_series($1::int, $2::int) g) x) s
       ORDER BY s.g`,
      [from, to, EVENTS],
    );
    log(`  seeded ${to.toLocaleString('en')}/${EVENTS.toLocaleString('en')} events (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  log('  VACUUM ANALYZE "AgentEvent" (what autovacuum would do after such a load)');
  await db.query('VACUUM ANALYZE "AgentEvent"');
}

async function main() {
  const bench = await freshBenchDatabase('siem', log);
  const { dbName, dbUrl, dir, serverUrl } = bench;
  const port = bench.port;
  const env = {
    ...bench.env,
    READ_RATE_LIMIT_PER_MINUTE: READ_RATE_LIMIT,
  };
  let server: ChildProcess | undefined;
  const db = new pg.Client({ connectionString: dbUrl });
  const cleanup = async () => {
    server?.kill('SIGKILL');
    await db.end().catch(() => {});
    await sleep(300);
    await bench.drop({ keep: process.env.BENCH_KEEP_DB === '1' });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const tsx = (args: string[], input?: string) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: repo, env, input, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    };
    log(`database ${dbName}: migrating`);
    tsx([join(repo, 'server/src/db/migrate-cli.ts')]);
    await db.connect();
    log(`seeding ${AGENTS} agents, ${PATCHES} patches, ${EVENTS.toLocaleString('en')} events over ${DAYS} days`);
    const seedStart = Date.now();
    await seed(db);
    const seedS = (Date.now() - seedStart) / 1000;
    const stats = (await db.query(`SELECT count(*)::int AS n, pg_size_pretty(pg_total_relation_size('"AgentEvent"')) AS size FROM "AgentEvent"`)).rows[0];
    if (stats.n !== EVENTS) throw new Error(`seeded ${stats.n} events, expected ${EVENTS}`);
    log(`seeded in ${seedS.toFixed(1)} s; "AgentEvent" with its indexes: ${stats.size}`);
    tsx([join(repo, 'cli/src/main.ts'), 'admin', 'create', '--username', 'bench', '--password-stdin'], `${PASSWORD}\n`);

    const t0 = Date.now();
    server = spawn(process.execPath, ['--max-semi-space-size=32', '--import', 'tsx', join(repo, 'server/src/server.ts')], { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let serverErr = '';
    server.stderr!.on('data', (d) => (serverErr = (serverErr + d).slice(-4000)));
    for (const end = Date.now() + 60_000; ; await sleep(100)) {
      if (server.exitCode !== null) throw new Error(`server exited: ${serverErr}`);
      if (await fetch(`${serverUrl}/readyz`).then((r) => r.ok, () => false)) break;
      if (Date.now() > end) throw new Error(`server not ready in 60 s: ${serverErr}`);
    }
    log(`server pid ${server.pid} on ${serverUrl}, ready in ${Date.now() - t0} ms; READ_RATE_LIMIT_PER_MINUTE=${READ_RATE_LIMIT} (raised so the bench measures the endpoint, not the limiter)`);
    const login = await fetch(`${serverUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }) });
    if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
    const session = ((await login.json()) as { token: string }).token;
    const made = await fetch(`${serverUrl}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench-siem', scopes: ['read'] }) });
    if (made.status !== 201) throw new Error(`token create: ${made.status} ${await made.text()}`);
    const token = ((await made.json()) as { token: string }).token;
    const headers = { authorization: `Bearer ${token}` };

    type Event = { seq: string; type: string; patchId: string; at: string };
    type Page = { items: Event[]; nextCursor: string | null };
    /** One page: the time until the whole body has arrived; JSON parsing is not counted. */
    const get = async (path: string): Promise<{ ms: number; page: Page }> => {
      const started = performance.now();
      const r = await fetch(`${serverUrl}${path}`, { headers });
      const text = await r.text();
      const ms = performance.now() - started;
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${text.slice(0, 500)}`);
      return { ms, page: JSON.parse(text) as Page };
    };
    const q = (params: Record<string, string | undefined>) =>
      `/api/v1/events?${new URLSearchParams(Object.entries({ limit: String(LIMIT), ...params }).filter((e): e is [string, string] => e[1] !== undefined))}`;

    // --- full export ----------------------------------------------------------------------------
    log('full export: one client follows nextCursor from the start');
    const cursors: string[] = [];
    const exportLat: number[] = [];
    let count = 0;
    let lastSeq = -1n;
    const exportStart = performance.now();
    for (let cursor: string | undefined, nextLog = 100_000; ; ) {
      const { ms, page } = await get(q({ after: cursor }));
      exportLat.push(ms);
      for (const e of page.items) {
        const s = BigInt(e.seq);
        if (s <= lastSeq) throw new Error(`seq did not increase: ${s} after ${lastSeq}`);
        lastSeq = s;
      }
      count += page.items.length;
      if (count >= nextLog) (log(`  ${count.toLocaleString('en')} events, ${((performance.now() - exportStart) / 1000).toFixed(1)} s`), (nextLog += 100_000));
      if (page.nextCursor === null) break;
      if (page.items.length === 0) throw new Error('an empty page with a nextCursor');
      cursors.push((cursor = page.nextCursor));
    }
    const fullExportS = (performance.now() - exportStart) / 1000;
    if (count !== EVENTS) throw new Error(`the export returned ${count} events, ${EVENTS} were seeded`);
    log(`  ${count.toLocaleString('en')} events in ${exportLat.length} pages, ${fullExportS.toFixed(2)} s (${Math.round(count / fullExportS).toLocaleString('en')} events/s); page p50 ${round(pct(exportLat, 50))} ms, p99 ${round(pct(exportLat, 99))} ms; seq strictly increasing`);

    // --- pages at random cursors, unfiltered and filtered ----------------------------------------
    // Unfiltered: random cursors from the export. Filtered: the cursors a client of that filter
    // holds, i.e. follow the filter from the start (up to SAMPLES pages), then random ones of those.
    const midDay = new Date(Date.now() - (DAYS / 2) * 86_400_000);
    const day = { since: new Date(midDay.getTime() - 43_200_000).toISOString(), until: new Date(midDay.getTime() + 43_200_000).toISOString() };
    const lastDay = new Date(Date.now() - 86_400_000).toISOString();
    const critical = new Set(Array.from({ length: PATCHES }, (_, i) => i + 1).filter((g) => g % 4 === 3).map(patchId));
    const kinds: { name: string; params: Record<string, string>; ok: (e: Event) => boolean }[] = [
      { name: 'none', params: {}, ok: () => true },
      { name: 'type=failed', params: { type: 'failed' }, ok: (e) => e.type === 'failed' },
      { name: `patchId=${patchId(25)}`, params: { patchId: patchId(25) }, ok: (e) => e.patchId === patchId(25) },
      { name: 'since&until (one day)', params: day, ok: (e) => e.at >= day.since && e.at < day.until },
      { name: 'since (the last day)', params: { since: lastDay }, ok: (e) => e.at >= lastDay },
      { name: `type=refused&patchId=${patchId(3)}`, params: { type: 'refused', patchId: patchId(3) }, ok: (e) => e.type === 'refused' && e.patchId === patchId(3) },
      { name: 'severity=critical', params: { severity: 'critical' }, ok: (e) => critical.has(e.patchId) },
    ];
    type KindFigures = { p50_ms: number; p99_ms: number; pages: number; items_per_page: number; first_page_ms?: number; last_page_ms?: number };
    const perKind: Record<string, KindFigures> = {};
    const allLat: number[] = [];
    const cursorsOf = new Map<string, string[]>();
    for (const k of kinds) {
      const lat: number[] = [];
      let items = 0;
      const measure = async (after: string | undefined) => {
        const { ms, page } = await get(q({ ...k.params, after }));
        if (!page.items.every(k.ok)) throw new Error(`filter ${k.name}: an item does not match`);
        lat.push(ms);
        items += page.items.length;
        return page.nextCursor;
      };
      let own = cursors;
      const edges: { first_page_ms?: number; last_page_ms?: number } = {};
      if (k.name !== 'none') {
        // The first page (no cursor) and, when the walk gets there, the last one (nextCursor
        // null) are where a filter that the seq index cannot bound pays most.
        own = [];
        let c = await measure(undefined);
        edges.first_page_ms = round(lat[0]!);
        for (; c !== null && own.length < SAMPLES; c = await measure(c)) own.push(c);
        if (c === null && lat.length > 1) edges.last_page_ms = round(lat[lat.length - 1]!);
      }
      for (let i = 0; i < SAMPLES && own.length; i++) await measure(pick(own));
      cursorsOf.set(k.name, own);
      const f: KindFigures = { p50_ms: round(pct(lat, 50)), p99_ms: round(pct(lat, 99)), pages: lat.length, items_per_page: Math.round(items / lat.length), ...edges };
      perKind[k.name] = f;
      allLat.push(...lat);
      const edge = [f.first_page_ms !== undefined ? `first page ${f.first_page_ms} ms` : '', f.last_page_ms !== undefined ? `last page ${f.last_page_ms} ms` : ''].filter(Boolean).join(', ');
      log(`  filter ${k.name}: p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms over ${f.pages} pages (${f.items_per_page} items per page)${edge ? `; ${edge}` : ''}`);
    }
    const firstPageMax = Math.max(...Object.values(perKind).map((f) => f.first_page_ms ?? 0));
    const lastPageMax = Math.max(...Object.values(perKind).map((f) => f.last_page_ms ?? 0));

    // --- throughput under autocannon -----------------------------------------------------------
    const paths = Array.from({ length: 2000 }, (_, i) => {
      const k = kinds[i % 2 === 0 ? 0 : 1 + (i % (kinds.length - 1))]!;
      const own = cursorsOf.get(k.name)!;
      return q({ ...k.params, after: own.length ? pick(own) : undefined });
    });
    log(`autocannon: ${CONNECTIONS} connections for ${DURATION_S} s, random cursors, half of them filtered`);
    const load = await autocannon({
      url: serverUrl,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [{ method: 'GET', headers, setupRequest: (req) => ({ ...req, path: pick(paths) }) }],
    });
    const loadErrors = load.errors + load.timeouts + load.non2xx;
    log(`  ${load.requests.average} req/s (${Math.round(load.requests.average * LIMIT).toLocaleString('en')} events/s), p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms, non-2xx ${load.non2xx}, errors ${load.errors}, timeouts ${load.timeouts}`);

    const pageP99 = round(pct(allLat, 99));
    const summary = {
      bench: 'siem',
      events: EVENTS,
      page_limit: LIMIT,
      page_p50_ms: round(pct(allLat, 50)),
      page_p99_ms: pageP99,
      rps: load.requests.average,
      load_p50_ms: load.latency.p50,
      load_p99_ms: load.latency.p99,
      load_errors: loadErrors,
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      full_export_s: Math.round(fullExportS * 100) / 100,
      export_pages: exportLat.length,
      export_page_p50_ms: round(pct(exportLat, 50)),
      export_page_p99_ms: round(pct(exportLat, 99)),
      first_page_max_ms: firstPageMax,
      last_page_max_ms: lastPageMax,
      filters: perKind,
      seed_s: round(seedS),
      read_rate_limit_per_minute: Number(READ_RATE_LIMIT),
      targets_met: { page_p99_under_50ms: pageP99 < 50, full_export_under_60s: fullExportS < 60 && count === EVENTS, no_load_errors: loadErrors === 0 },
      cpus: cpus().length,
      loadavg_1m: round(loadavg()[0]!),
      node: process.version,
    };
    log('targets: p99 < 50 ms per page of 500; full export of 1,000,000 events < 60 s');
    if (firstPageMax >= 50 || lastPageMax >= 50) log(`note: the slowest first page of a filter took ${firstPageMax} ms, the slowest last page ${lastPageMax} ms (one page each per filter, so p99 does not show them)`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await cleanup();
  }
}

void main().catch((err) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
