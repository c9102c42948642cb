/**
 * pnpm bench:engine — the linux-ptrace engine and the Linux inventory against real gcc-built
 * targets (test-targets/target.c, pie variant). Needs root, gcc and x86_64 Linux.
 *
 * 1. Apply/unapply latency p50/p99 for targets with 1, 8 and 64 threads calling the patched
 *    function in tight loops; in-place and detour separately (the headline is in-place).
 * 2. Patching 200 idle target processes with the in-place patch: sequentially, and with a few
 *    applies in flight.
 * 3. A full inventory re-scan with a warm hash cache, with at least 300 processes on the system.
 * 4. The idle RSS of the agent as endpoints run it (bundled, `run`, a scan every second).
 *
 * Progress goes to stderr; the last line on stdout is one JSON object. Every target is killed at
 * the end, on error and on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_ENTRIES, AGENT_NODE_FLAGS, bundle } from '../src/build/bundle.ts';
import type { AppliedPatch, ApplyRequest, Engine } from '../src/engines/engine.ts';
import { createLinuxPtraceEngine } from '../src/engines/linux-ptrace/linux-ptrace-engine.ts';
import { createLinuxInventory } from '../src/inventory/linux-inventory.ts';
import { applyRequest } from '../src/patching/resolve.ts';
import { buildElfTargets, FIXED, FLAWED, flawPatchlets, gccMissing, type BuiltTarget, type RunningTarget } from '../src/test-targets/elf-targets.test-helper.ts';
import { createTargetPool, type TargetPool } from './target-pool.ts';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 200);
const WARMUP_CYCLES = 10;
/** BENCH_THREADS=8 (comma-separated) runs only those latency phases, for investigating one. */
const THREAD_COUNTS = (process.env.BENCH_THREADS ?? '1,8,64').split(',').map(Number);
const PROCS_TO_PATCH = 200;
const CONCURRENCY = 4;
const MIN_PROCS_FOR_SCAN = 300;
const WARM_SCANS = 7;
const IDLE_WAIT_MS = 6000;
/** Per thread count and style: a latency phase stops early (and says so) after this long, which
 * only happens with 64 threads on a small, loaded machine. */
const PHASE_CAP_MS = 25_000;
/** The whole run is aborted (targets killed) after this long. */
const RUN_CAP_MS = 240_000;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const r2 = (n: number) => Math.round(n * 100) / 100;
const r1 = (n: number) => Math.round(n * 10) / 10;
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/** Nearest-rank percentile. */
function pct(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function procCount(): Promise<number> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).length;
}

/** RSS, its peak, and its anonymous part (the rest is mostly node's own text, shared with every node process). */
async function vmStatus(pid: number): Promise<{ rssMb: number; hwmMb: number; anonMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const mb = (name: string) => r1(Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024);
  return { rssMb: mb('VmRSS'), hwmMb: mb('VmHWM'), anonMb: mb('RssAnon') };
}

type Style = 'in-place' | 'detour';

interface Ctx {
  engine: Engine;
  pie: BuiltTarget;
  pool: TargetPool;
  inventory: ReturnType<typeof createLinuxInventory>;
}

/** The request for `style` against the pie module as the inventory finds it in the process. */
async function requestFor(ctx: Ctx, r: RunningTarget, style: Style): Promise<ApplyRequest> {
  const p = await ctx.inventory.scanProcess(r.pid);
  const m = p?.modules.find((x) => x.sha256 === ctx.pie.identity.sha256);
  if (!p || !m) throw new Error(`the inventory does not find ${ctx.pie.module} in process ${r.pid}`);
  return applyRequest({ doc: { id: `bench-${style}`, patchlets: flawPatchlets(ctx.pie.checkLenRva)[style] }, process: { pid: r.pid, startTime: p.startTime }, module: m });
}

async function mustApply(engine: Engine, req: ApplyRequest): Promise<AppliedPatch> {
  const out = await engine.apply(req);
  if (out.outcome !== 'applied') throw new Error(`apply to ${req.process.pid}: ${json(out)}`);
  return out.applied;
}

async function mustUnapply(engine: Engine, a: AppliedPatch): Promise<void> {
  const out = await engine.unapply(a);
  if (out.outcome !== 'unapplied') throw new Error(`unapply in ${a.process.pid}: ${json(out)}`);
}

interface Latency {
  cycles: number;
  apply: { p50: number; p99: number; max: number };
  unapply: { p50: number; p99: number; max: number };
}

async function latency(ctx: Ctx, threads: number): Promise<Record<Style, Latency>> {
  const r = await ctx.pool.start(threads);
  try {
    const reqs = { 'in-place': await requestFor(ctx, r, 'in-place'), detour: await requestFor(ctx, r, 'detour') };
    const out = {} as Record<Style, Latency>;
    for (const style of ['in-place', 'detour'] as const) {
      for (let i = 0; i < WARMUP_CYCLES; i++) await mustUnapply(ctx.engine, await mustApply(ctx.engine, reqs[style]));
      const apply: number[] = [];
      const unapply: number[] = [];
      const t0 = performance.now();
      while (apply.length < CYCLES && performance.now() - t0 < PHASE_CAP_MS) {
        let t = performance.now();
        const a = await mustApply(ctx.engine, reqs[style]);
        apply.push(performance.now() - t);
        t = performance.now();
        await mustUnapply(ctx.engine, a);
        unapply.push(performance.now() - t);
      }
      const sum = (xs: number[]) => ({ p50: r2(pct(xs, 50)), p99: r2(pct(xs, 99)), max: r2(Math.max(...xs)) });
      out[style] = { cycles: apply.length, apply: sum(apply), unapply: sum(unapply) };
      const capped = apply.length < CYCLES ? ` (stopped at the ${PHASE_CAP_MS / 1000} s cap)` : '';
      log(`  ${threads} thread(s), ${style}: ${apply.length} cycles${capped}; apply p50 ${out[style].apply.p50} ms p99 ${out[style].apply.p99} ms max ${out[style].apply.max} ms; unapply p50 ${out[style].unapply.p50} ms p99 ${out[style].unapply.p99} ms`);
    }
    // The threads kept calling through all of it and never saw a third result.
    const stats = /^calls=(\d+) anomalies=(\d+)$/.exec(await r.send('stats'));
    if (!stats || Number(stats[2]) !== 0) throw new Error(`target with ${threads} threads: ${stats?.[0] ?? 'no stats'}`);
    if ((await r.probe()) !== FLAWED) throw new Error('the original code is not back after the last unapply');
    log(`  ${threads} thread(s): ${Number(stats[1]).toLocaleString('en')} calls during the run, 0 anomalies`);
    return out;
  } finally {
    await ctx.pool.stop(r);
  }
}

/** Applies every request with at most `concurrency` in flight; returns the applied patches and the wall time. */
async function patchAll(engine: Engine, reqs: ApplyRequest[], concurrency: number): Promise<{ ms: number; applied: AppliedPatch[] }> {
  const applied: AppliedPatch[] = new Array(reqs.length);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const i = next++;
        applied[i] = await mustApply(engine, reqs[i]!);
      }
    }),
  );
  return { ms: performance.now() - t0, applied };
}

async function patchMany(ctx: Ctx) {
  log(`starting ${PROCS_TO_PATCH} idle targets`);
  const rs = await ctx.pool.startMany(PROCS_TO_PATCH, 0);
  let t = performance.now();
  const reqs = [];
  for (const r of rs) reqs.push(await requestFor(ctx, r, 'in-place'));
  const resolveMs = performance.now() - t;
  log(`  resolving the patch in ${PROCS_TO_PATCH} processes (scanProcess, warm hash cache): ${r1(resolveMs)} ms`);

  const seq = await patchAll(ctx.engine, reqs, 1);
  log(`  applying to ${PROCS_TO_PATCH} processes, sequentially: ${r1(seq.ms)} ms (${r2(seq.ms / PROCS_TO_PATCH)} ms each)`);
  const probes = await Promise.all(rs.map((r) => r.probe()));
  const notFixed = probes.filter((p) => p !== FIXED).length;
  if (notFixed) throw new Error(`${notFixed} of ${PROCS_TO_PATCH} processes still have the flaw after the apply`);
  t = performance.now();
  for (const a of seq.applied) await mustUnapply(ctx.engine, a);
  const unpatchMs = performance.now() - t;
  log(`  unapplying from ${PROCS_TO_PATCH} processes, sequentially: ${r1(unpatchMs)} ms`);

  const conc = await patchAll(ctx.engine, reqs, CONCURRENCY);
  log(`  applying to ${PROCS_TO_PATCH} processes, ${CONCURRENCY} in flight: ${r1(conc.ms)} ms`);
  for (const a of conc.applied) await mustUnapply(ctx.engine, a);
  return { resolveMs, seqMs: seq.ms, unpatchMs, concMs: conc.ms };
}

async function rescan(ctx: Ctx) {
  let n = await procCount();
  while (n < MIN_PROCS_FOR_SCAN) {
    await ctx.pool.startMany(MIN_PROCS_FOR_SCAN - n + 5, 0);
    n = await procCount();
  }
  log(`${n} processes on the system (${ctx.pool.size} of them targets); warming the inventory`);
  const inventory = createLinuxInventory();
  let t = performance.now();
  const cold = await inventory.scan();
  const coldMs = performance.now() - t;
  const modules = cold.processes.reduce((s, p) => s + p.modules.length, 0);
  log(`  cold scan: ${r1(coldMs)} ms, ${cold.processes.length} processes, ${modules} modules, ${cold.skipped} skipped, ${inventory.hashCache.hashedCount} files hashed`);
  const wall: number[] = [];
  const cpu: number[] = [];
  let processes = 0;
  const hashedBefore = inventory.hashCache.hashedCount;
  for (let i = 0; i < WARM_SCANS; i++) {
    const c0 = process.cpuUsage();
    t = performance.now();
    const s = await inventory.scan();
    wall.push(performance.now() - t);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    processes = s.processes.length;
  }
  const out = { procs: processes, wallP50: pct(wall, 50), wallMax: Math.max(...wall), cpuP50: pct(cpu, 50), coldMs };
  // Files hashed during the warm scans come from processes started meanwhile (other work on the machine).
  const rehashed = inventory.hashCache.hashedCount - hashedBefore;
  log(`  warm scans (${WARM_SCANS}): wall p50 ${r1(out.wallP50)} ms (max ${r1(out.wallMax)} ms), CPU p50 ${r1(out.cpuP50)} ms (main thread and thread pool), ${processes} processes, ${rehashed} new files hashed meanwhile`);
  return out;
}

/** Pids of processes still running an executable from `dir`. */
async function leftovers(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const n of await readdir('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const cmd = await readFile(`/proc/${n}/cmdline`, 'latin1').catch(() => '');
    if (cmd.startsWith(`${dir}/`)) out.push(Number(n));
  }
  return out;
}

let idleChild: ChildProcess | undefined;

/**
 * The real agent at rest: built to JavaScript as endpoints run it (build/bundle.ts), started
 * with `run` on an empty state dir (it scans every second and holds no engine worker until a
 * patch applies), measured after a few seconds.
 */
async function idleRss(dir: string) {
  const { 'suture-agent': agent } = await bundle({ entries: AGENT_ENTRIES, outdir: join(dir, 'agent-dist') });
  const args = [...AGENT_NODE_FLAGS, agent!, '--state-dir', join(dir, 'agent-state'), 'run', '--interval', '1000'];
  // The bundle sits in a temp dir: koffi (native, not bundled) comes from the agent's node_modules.
  const env = { ...process.env, NODE_PATH: new URL('../node_modules', import.meta.url).pathname };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  idleChild = child;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const ready = new Promise<void>((res) => createInterface({ input: child.stderr! }).on('line', (l) => l.includes('running') && res()));
  try {
    const t0 = performance.now();
    await Promise.race([ready, exited.then(() => Promise.reject(new Error('the agent exited'))), sleep(30_000).then(() => Promise.reject(new Error('the agent did not start within 30 s')))]);
    log(`  agent (pid ${child.pid}: node ${args.join(' ')}) running after ${r1(performance.now() - t0)} ms (first scan included); waiting ${IDLE_WAIT_MS / 1000} s`);
    await sleep(IDLE_WAIT_MS);
    const vm = await vmStatus(child.pid!);
    log(`  idle agent: VmRSS ${vm.rssMb} MB (peak ${vm.hwmMb} MB, anonymous ${vm.anonMb} MB)`);
    return { ...vm, heapUsedMb: null, scans: Math.floor(IDLE_WAIT_MS / 1000) };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(2000).then(() => child.kill('SIGKILL'))]);
    idleChild = undefined;
  }
}

async function main() {
  const noGcc = gccMissing();
  if (noGcc) throw new Error(noGcc);
  const engine = createLinuxPtraceEngine();
  const available = engine.available();
  if (!available.ok) throw new Error(available.why);
  if (process.getuid?.() !== 0) log('warning: not root; ptrace may be refused');

  const dir = await mkdtemp(join(tmpdir(), 'suture-bench-engine-'));
  const { pie } = await buildElfTargets(dir, ['pie']);
  const pool = createTargetPool(pie);
  const ctx: Ctx = { engine, pie, pool, inventory: createLinuxInventory() };
  const cleanup = () => {
    pool.killAll();
    idleChild?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (log(`${sig}: killing ${pool.size} targets`), process.exit(130)));
  const cap = setTimeout(() => (log(`the run passed ${RUN_CAP_MS / 1000} s: aborting`), process.exit(1)), RUN_CAP_MS);
  cap.unref();

  const t0 = performance.now();
  // At the start: the 64-thread phase itself drives the load average up for minutes.
  const load0 = loadavg()[0]!;
  log(`${availableParallelism()} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}, ${await procCount()} processes`);
  try {
    const lat: Record<number, Record<Style, Latency>> = {};
    for (const threads of THREAD_COUNTS) {
      log(`apply/unapply latency, ${threads} busy thread(s), ${CYCLES} cycles per style`);
      lat[threads] = await latency(ctx, threads);
    }
    const patched = await patchMany(ctx);
    const scan = await rescan(ctx);
    log('idle RSS of a separate agent process');
    const idle = await idleRss(dir);
    await pool.stopAll();
    const left = await leftovers(dir);
    if (left.length) throw new Error(`targets still running after the stop: ${left.join(', ')}`);
    log(`all targets stopped (no process runs from ${dir})`);

    const result: Record<string, unknown> = { bench: 'engine', engine: engine.name, cycles: CYCLES };
    for (const threads of THREAD_COUNTS) {
      const l = lat[threads]!;
      Object.assign(result, {
        [`apply_p50_ms_${threads}t`]: l['in-place'].apply.p50,
        [`apply_p99_ms_${threads}t`]: l['in-place'].apply.p99,
        [`unapply_p50_ms_${threads}t`]: l['in-place'].unapply.p50,
        [`unapply_p99_ms_${threads}t`]: l['in-place'].unapply.p99,
        [`detour_apply_p50_ms_${threads}t`]: l.detour.apply.p50,
        [`detour_apply_p99_ms_${threads}t`]: l.detour.apply.p99,
        [`detour_unapply_p50_ms_${threads}t`]: l.detour.unapply.p50,
        [`detour_unapply_p99_ms_${threads}t`]: l.detour.unapply.p99,
      });
      if (l['in-place'].cycles < CYCLES || l.detour.cycles < CYCLES) result[`cycles_${threads}t`] = Math.min(l['in-place'].cycles, l.detour.cycles);
    }
    Object.assign(result, {
      patch_200_procs_ms: r1(patched.seqMs),
      [`patch_200_procs_c${CONCURRENCY}_ms`]: r1(patched.concMs),
      unpatch_200_procs_ms: r1(patched.unpatchMs),
      resolve_200_procs_ms: r1(patched.resolveMs),
      rescan_300_procs_ms: r1(scan.wallP50),
      rescan_300_procs_cpu_ms: r1(scan.cpuP50),
      rescan_procs: scan.procs,
      cold_scan_ms: r1(scan.coldMs),
      idle_rss_mb: idle.rssMb,
      idle_peak_rss_mb: idle.hwmMb,
      idle_rss_anon_mb: idle.anonMb,
      idle_heap_used_mb: idle.heapUsedMb,
      cpus: availableParallelism(),
      loadavg_1m: Number(load0.toFixed(2)),
      loadavg_1m_end: Number(loadavg()[0]!.toFixed(2)),
      node: process.version,
      run_s: r1((performance.now() - t0) / 1000),
    });
    const targets = {
      apply_p50_8t_under_1ms: (result.apply_p50_ms_8t as number) < 1,
      patch_200_procs_under_1s: patched.seqMs < 1000,
      rescan_300_procs_under_100ms: scan.wallP50 < 100,
      idle_rss_under_80mb: idle.rssMb < 80,
    };
    log('targets from the issue:');
    log(`  apply p50 (8 threads, in-place) < 1 ms: ${result.apply_p50_ms_8t} ms -> ${targets.apply_p50_8t_under_1ms ? 'MET' : 'MISSED'}`);
    log(`  200 processes patched < 1 s: ${result.patch_200_procs_ms} ms sequential -> ${targets.patch_200_procs_under_1s ? 'MET' : 'MISSED'} (${CONCURRENCY} in flight: ${result[`patch_200_procs_c${CONCURRENCY}_ms`]} ms)`);
    log(`  re-scan of ${scan.procs} processes < 100 ms: ${result.rescan_300_procs_ms} ms -> ${targets.rescan_300_procs_under_100ms ? 'MET' : 'MISSED'}`);
    log(`  idle RSS < 80 MB: ${idle.rssMb} MB -> ${targets.idle_rss_under_80mb ? 'MET' : 'MISSED'}`);
    log(`done in ${result.run_s} s`);
    process.stdout.write(`${JSON.stringify({ ...result, targets_met: targets })}\n`);
  } finally {
    await pool.stopAll();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
