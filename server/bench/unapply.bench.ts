/**
 * pnpm bench:unapply — a fleet-wide unapply at 1,000, 5,000 and 10,000 connected agents, the
 * server and the simulator on this machine together.
 *
 * Starts the real server (`server/src/server.ts`) as a child process on a fresh PostgreSQL
 * database (BENCH_DATABASE_URL or TEST_DATABASE_URL's server, default the local one; dropped at
 * the end), and `pnpm sim` processes (server/bench/sim/sim.ts) that bring the fleet up step by
 * step. At each step: server RSS, then POST /operations/unapply for the whole fleet and the time
 * until every agent's acknowledgement is persisted (polled in the database), with p50/p99 per
 * agent (OperationTarget.doneAt - Operation.createdAt), when the simulated agents received the
 * command (`delivered_*`), and the CPU the server, the simulators and PostgreSQL used meanwhile
 * (`cpu_ms_*`: on a shared 2-core machine they compete). At the largest step the server is
 * restarted (SIGTERM, start again) and the reconnect storm is timed until every agent is
 * welcomed again. Progress on stderr; the last stdout line is one JSON object.
 *
 *   pnpm bench:unapply                      # 1000,5000,10000
 *   BENCH_AGENTS=200,1000 pnpm bench:unapply
 *   BENCH_SERVER_PROFILE=/tmp/prof pnpm bench:unapply   # a CPU profile of each server process there
 *   BENCH_SIM_PROFILE=/tmp/prof pnpm bench:unapply      # a CPU profile of each simulator process there
 *   BENCH_SERVER_LOG=/tmp/server.log LOG_LEVEL=info pnpm bench:unapply   # the server's log, appended there
 *   BENCH_AGENTS_PER_SIM=2500 pnpm bench:unapply        # agents per simulator process (default 10000)
 *   BENCH_SIM_NICE=19 pnpm bench:unapply                # the simulators' nice value (default 0)
 *   BENCH_VERBOSE=1 pnpm bench:unapply                  # every simulator stats line
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg, setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { apiClient, publishRoot } from '../../test/src/harness.ts';
import { freshBenchDatabase } from './bench-db.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const STEPS = (process.env.BENCH_AGENTS ?? '1000,5000,10000').split(',').map(Number);
if (STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || n > 20_000 || (i > 0 && n <= STEPS[i - 1]!))) {
  process.stderr.write('BENCH_AGENTS must be increasing integers from 1 to 20000, e.g. 1000,5000,10000\n');
  process.exit(2);
}
/** Agents per simulator process, and how fast all of a step's simulators connect together. */
const PER_SIM = Number(process.env.BENCH_AGENTS_PER_SIM ?? 10_000);
const CONNECT_PER_SECOND = 2000;
/** The simulators' CPU priority (nice value, 0 to 19): BENCH_SIM_NICE, default 0 (as the bench). */
const SIM_NICE = Number(process.env.BENCH_SIM_NICE ?? 0);
if (!Number.isInteger(SIM_NICE) || SIM_NICE < 0 || SIM_NICE > 19) {
  process.stderr.write('BENCH_SIM_NICE must be an integer from 0 to 19 (the simulators\' nice value, default 0)\n');
  process.exit(2);
}
if (!Number.isInteger(PER_SIM) || PER_SIM < 1) {
  process.stderr.write('BENCH_AGENTS_PER_SIM must be a positive integer (agents per simulator process, default 10000)\n');
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PASSWORD = 'bench password that is long enough';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** CPU time (user + system, ms) the processes have used so far; a process gone counts 0. */
async function cpuMs(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) "
    if (f.length > 13) ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
/** PostgreSQL's processes on this machine (the bench's database server, if local). */
async function postgresPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (/^\d+$/.test(d) && (await readFile(`/proc/${d}/comm`, 'utf8').catch(() => '')).trim() === 'postgres') pids.push(Number(d));
  }
  return pids;
}
/** CPU used by the server, the simulators and PostgreSQL between two readings. */
async function cpuReading(server: number, sims: number[]) {
  return { server: await cpuMs([server]), simulators: await cpuMs(sims), postgres: await cpuMs(await postgresPids()) };
}

/**
 * Waits (5 s at least, 60 s at most) until a whole second passes in which the server, the
 * simulators and PostgreSQL (autovacuum after the inventories included) use under 10% of a core
 * each: the unapply is measured on a settled fleet, not against the tail of its connecting.
 */
async function settle(server: number, sims: number[]) {
  const started = Date.now();
  await sleep(4000);
  for (let before = await cpuReading(server, sims); ; ) {
    await sleep(1000);
    const now = await cpuReading(server, sims);
    const busy = Math.max(now.server - before.server, now.simulators - before.simulators, now.postgres - before.postgres);
    if (busy < 100) return log(`  quiet after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (Date.now() - started > 60_000) return log(`  not quiet after 60 s (${busy} ms of CPU in the last second); measuring anyway`);
    before = now;
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;

async function main() {
  const bench = await freshBenchDatabase('unapply', log);
  const { dbName, dbUrl, dir, serverUrl } = bench;
  const port = bench.port;
  const env = {
    ...bench.env,
    LOGIN_RATE_LIMIT_PER_MINUTE: '10000',
    MAX_AGENT_SOCKETS: '50000',
    AGENT_JWT_TTL_SECONDS: '3600',
  };
  const children: ChildProcess[] = [];
  let server: ChildProcess | undefined;
  const db = new pg.Client({ connectionString: dbUrl });
  const profileDir = process.env.BENCH_SERVER_PROFILE;
  const simProfileDir = process.env.BENCH_SIM_PROFILE;
  const cleanup = async () => {
    // Profiled simulators are stopped gently too (they exit half a second after SIGTERM).
    if (simProfileDir) await Promise.all(children.filter((c) => c.exitCode === null).map((c) => Promise.race([new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))), sleep(15_000)])));
    for (const c of children) c.kill('SIGKILL');
    // A profiled server is stopped gently: its profile is written as it exits.
    if (profileDir && server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
    }
    server?.kill('SIGKILL');
    await db.end().catch(() => {});
    await sleep(500);
    await bench.drop();
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const made = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'cli/src/main.ts'), 'admin', 'create', '--username', 'bench', '--password-stdin'], { cwd: repo, env, input: `${PASSWORD}\n`, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`admin create failed: ${made.stderr}`);

    async function startServer(): Promise<ChildProcess> {
      const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
      const p = spawn(process.execPath, ['--max-semi-space-size=32', ...profile, '--import', 'tsx', join(repo, 'server/src/server.ts')], { cwd: repo, env, stdio: ['ignore', process.env.BENCH_SERVER_LOG ? 'pipe' : 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
      if (process.env.BENCH_SERVER_LOG) p.stdout!.pipe(createWriteStream(process.env.BENCH_SERVER_LOG, { flags: 'a' })); // the server logs to stdout
      for (const end = Date.now() + 60_000; ; await sleep(100)) {
        if (p.exitCode !== null) throw new Error(`server exited: ${err}`);
        if (await fetch(`${serverUrl}/readyz`).then((r) => r.ok, () => false)) return p;
        if (Date.now() > end) throw new Error(`server not ready in 60 s: ${err}`);
      }
    }
    const t0 = Date.now();
    server = await startServer();
    log(`server pid ${server.pid} on ${serverUrl}, database ${dbName}, ready in ${Date.now() - t0} ms`);
    await db.connect();
    const login = await fetch(`${serverUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }) });
    const token = ((await login.json()) as { token: string }).token;
    const api = apiClient(serverUrl, token);
    // Agents enroll only against a server with a root: one naming the server's online key.
    await publishRoot(serverUrl, token);
    const enrollment = await api('POST', '/api/v1/enrollment-tokens', { name: 'bench', group: 'bench', maxUses: 100_000, expiresInHours: 2 });
    if (enrollment.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(enrollment.json)}`);

    // The fleet, brought up step by step: each step's new agents in simulator processes of at
    // most PER_SIM agents. Real agents each have a machine of their own; a single-threaded
    // simulator answers its agents' commands in turn, and `delivered_*` shows how late.
    const welcomedAt = new Map<number, number>();
    const simStats: Record<string, { errors: number }> = {};
    /** When agents received each command (the simulators' clock is this machine's): command id -> ms since epoch. */
    const commandReceived = new Map<string, number[]>();
    const credentials = join(dir, 'sim-credentials');
    function startSims(offset: number, count: number, step: number) {
      const sims = Math.ceil(count / PER_SIM);
      for (let j = 0; j < sims; j++) {
        const from = offset + Math.floor((count * j) / sims);
        startSim(from, offset + Math.floor((count * (j + 1)) / sims) - from, `${step + 1}.${j + 1}`, Math.ceil(CONNECT_PER_SECOND / sims));
      }
    }
    function startSim(offset: number, count: number, k: string, rate: number) {
      const c = spawn(process.execPath, ['--max-semi-space-size=16', ...(simProfileDir ? ['--cpu-prof', '--cpu-prof-dir', simProfileDir] : []), '--import', 'tsx', join(repo, 'server/bench/sim/sim.ts'), '--server', serverUrl, '--enroll-token', enrollment.json.token, '--agents', String(count), '--offset', String(offset), '--credentials', `${credentials}-${k}.json`, '--duration', '3600', '--connect-per-second', String(rate)], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      c.stderr!.on('data', (d: Buffer) => {
        const line = d.toString().trim().split('\n').pop()!;
        if (!/ s: welcomed/.test(line) || process.env.BENCH_VERBOSE) log(`sim ${k}: ${line.replace(/^\[sim\] /, '')}`);
      });
      c.on('message', (m: { kind: string; i: number; at: number; stats?: { errors: number }; received?: [string, number][] }) => {
        if (m.kind === 'welcome') welcomedAt.set(m.i, m.at);
        if (m.kind === 'stats') simStats[k] = m.stats!;
        for (const [id, at] of m.received ?? []) {
          let list = commandReceived.get(id);
          if (!list) commandReceived.set(id, (list = []));
          list.push(at);
        }
      });
      c.on('exit', (code) => {
        if (code) simFailed = `simulator ${k} exited with ${code} (its last lines are above)`;
      });
      // Niced, the simulators get only the CPU the server and PostgreSQL leave (as remote
      // machines would), but then answer late whenever the server is busy.
      if (SIM_NICE) setPriority(c.pid!, SIM_NICE);
      children.push(c);
    }
    let simFailed: string | undefined;
    async function untilAllWelcomed(n: number, since: number, what: string, ms: number): Promise<number> {
      const end = Date.now() + ms;
      let last = 0;
      for (;;) {
        let count = 0;
        let latest = 0;
        for (const [i, at] of welcomedAt) if (i < n && at >= since) (count++, (latest = Math.max(latest, at)));
        if (count === n) return latest;
        if (simFailed) throw new Error(simFailed);
        if (Date.now() - last > 2000) (log(`  ${what}: ${count}/${n} agents welcomed`), (last = Date.now()));
        if (Date.now() > end) {
          for (const c of children) if (c.connected) c.send({ kind: 'phases' });
          await sleep(500); // their answers go to the log
          throw new Error(`${what}: only ${count}/${n} agents welcomed within ${ms / 1000} s (the simulators' lines above say where the others are)`);
        }
        await sleep(100);
      }
    }

    const results: Record<string, number>[] = [];
    let have = 0;
    for (const [k, n] of STEPS.entries()) {
      log(`step ${k + 1}/${STEPS.length}: ${n} agents`);
      const stepStart = Date.now();
      startSims(have, n - have, k);
      await untilAllWelcomed(n, 0, `connecting ${n}`, 600_000);
      have = n;
      log(`  ${n} agents connected (${((Date.now() - stepStart) / 1000).toFixed(1)} s incl. enrollment); settling until quiet`);
      await settle(server.pid!, children.map((c) => c.pid!));
      const rss = await rssMb(server.pid!);
      // Per 1,000 only from 1,000 up: below that the process's own baseline dominates.
      log(`  server RSS ${rss.toFixed(0)} MB${n >= 1000 ? ` (${(rss / (n / 1000)).toFixed(1)} MB per 1,000 connections)` : ''}`);

      const simPids = children.map((c) => c.pid!);
      const cpuBefore = await cpuReading(server.pid!, simPids);
      const started = Date.now();
      const op = await api('POST', '/api/v1/operations/unapply', { patchId: `SUT-BENCH-${k + 1}` });
      if (op.status !== 201) throw new Error(`unapply: ${op.status} ${JSON.stringify(op.json)}`);
      const answered = Date.now() - started;
      let pending = n;
      // Polled every 50 ms (so the figure is up to 50 ms late) for whether any target is still
      // pending: that scan stops at the first one it finds, while a count reads all the
      // operation's targets (15 ms a poll at 10,000, PostgreSQL CPU taken from the server it
      // measures); the count only for the progress line, once a second.
      for (let last = 0; pending > 0; await sleep(50)) {
        if (Date.now() - last > 1000) {
          pending = Number((await db.query(`SELECT count(*) AS c FROM "OperationTarget" WHERE "operationId" = $1 AND status = 'pending'`, [op.json.id])).rows[0].c);
          log(`  unapply: ${n - pending}/${n} acknowledgements persisted`);
          last = Date.now();
        } else if (!(await db.query(`SELECT EXISTS (SELECT 1 FROM "OperationTarget" WHERE "operationId" = $1 AND status = 'pending') AS p`, [op.json.id])).rows[0].p) pending = 0;
        if (Date.now() - started > 120_000) throw new Error(`unapply: ${pending} acknowledgements still pending after 120 s`);
      }
      const allAcks = Date.now() - started;
      const cpuAfter = await cpuReading(server.pid!, simPids);
      const cpu = { server: cpuAfter.server - cpuBefore.server, simulators: cpuAfter.simulators - cpuBefore.simulators, postgres: cpuAfter.postgres - cpuBefore.postgres };
      log(`  CPU used meanwhile: server ${cpu.server} ms, simulators ${cpu.simulators} ms, PostgreSQL ${cpu.postgres} ms (${cpus().length} cores: ${cpus().length * allAcks} ms available)`);
      const lat = (await db.query(`SELECT EXTRACT(EPOCH FROM (t."doneAt" - o."createdAt")) * 1000 AS ms FROM "OperationTarget" t JOIN "Operation" o ON o.id = t."operationId" WHERE t."operationId" = $1`, [op.json.id])).rows.map((r) => Number(r.ms));
      // Where the time goes: until each agent had the command (server fan-out and the
      // simulator's turn), and from there until its acknowledgement was stored.
      await sleep(2100); // one more stats tick from every simulator, with the receive times
      const created = Number((await db.query(`SELECT EXTRACT(EPOCH FROM "createdAt") * 1000 AS ms FROM "Operation" WHERE id = $1`, [op.json.id])).rows[0].ms);
      const delivered = (commandReceived.get(op.json.id) ?? []).map((at) => at - created);
      const unapplied = Number((await db.query(`SELECT count(*) AS c FROM "AgentEvent" WHERE "commandId" = $1 AND type = 'unapplied'`, [op.json.id])).rows[0].c);
      const row = { agents: n, unapply_request_ms: answered, unapply_p50_ms: round(pct(lat, 50)), unapply_p99_ms: round(pct(lat, 99)), all_acks_persisted_ms: allAcks, delivered_p50_ms: round(pct(delivered, 50)), delivered_p99_ms: round(pct(delivered, 99)), delivered_last_ms: round(Math.max(...delivered)), outcome_events_stored: unapplied, cpu_ms_server: cpu.server, cpu_ms_simulators: cpu.simulators, cpu_ms_postgres: cpu.postgres, server_rss_mb: round(rss), ...(n >= 1000 ? { server_rss_mb_per_1000: round(rss / (n / 1000)) } : {}) };
      log(`  unapply of ${n}: request ${answered} ms, p50 ${row.unapply_p50_ms} ms, p99 ${row.unapply_p99_ms} ms, every acknowledgement persisted after ${allAcks} ms; ${unapplied} outcome events stored; commands received by the agents p50 ${row.delivered_p50_ms} ms, p99 ${row.delivered_p99_ms} ms, last ${row.delivered_last_ms} ms (${delivered.length} of ${n} reported)`);
      results.push(row);
    }

    // Reconnect storm: restart the server; every agent reconnects on its own back-off.
    const n = have;
    log(`reconnect storm: restarting the server with ${n} agents connected`);
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
    const down = Date.now();
    server = await startServer();
    const up = Date.now();
    log(`  server back after ${up - down} ms`);
    const errorsBefore = Object.values(simStats).reduce((a, s) => a + s.errors, 0);
    // Counted from the old server's exit: the new one takes sockets as soon as it listens, a
    // moment before /readyz says so, and an agent welcomed then stays connected.
    const last = await untilAllWelcomed(n, down, 'reconnect storm', 120_000);
    const storm = Math.max(0, last - up);
    await sleep(2100); // one more stats tick from every simulator
    const stormErrors = Object.values(simStats).reduce((a, s) => a + s.errors, 0) - errorsBefore;
    const rssAfter = await rssMb(server.pid!);
    log(`  every agent welcomed again ${storm} ms after the server was ready; simulator errors meanwhile: ${stormErrors}; server RSS ${rssAfter.toFixed(0)} MB`);

    const largest = results[results.length - 1]!;
    const summary = {
      bench: 'unapply',
      ...largest,
      reconnect_storm_ms: storm,
      reconnect_storm_errors: stormErrors,
      server_rss_mb_after_storm: round(rssAfter),
      steps: results,
      targets_met: largest.agents! >= 10_000 ? { p99_under_1s: largest.unapply_p99_ms! < 1000, acks_under_2s: largest.all_acks_persisted_ms! < 2000, storm_under_30s: storm < 30_000 && stormErrors === 0, rss_under_1gb: largest.server_rss_mb! < 1024 } : 'run with 10000 agents to judge the targets',
      cpus: cpus().length,
      loadavg_1m: round(loadavg()[0]!),
      node: process.version,
    };
    log('targets (10,000 agents): p99 < 1 s, every acknowledgement persisted < 2 s, reconnect storm < 30 s without errors, RSS < 1 GB');
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await cleanup();
  }
}

void main().catch((err) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
