/**
 * The agent's Windows build as an operator runs it, for real under Wine: main.ts and the engine
 * worker bundled side by side (koffi left to its win32 build), run by the Windows node.exe, with
 * the mingw PE targets running under the same wineserver. Signed patch files checked against
 * the pinned root, apply/status/unapply on an EXE and a DLL, refusal of a tampered patch,
 * adoption from memory after a killed run, and the crash guard of `suture-agent run`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SPEC_VERSION, type PatchDocument, type Patchlet } from '@suture/shared/schemas';
import { envelopeBytes, signDocument } from '@suture/shared/trust';
import { newKeys, rootBytes, rootDoc, type Keys } from '../../shared/src/trust/fixtures.test-helper.ts';
import { createWineHarness, wineMissing } from './engines/windows/wine-harness.test-helper.ts';
import type { AgentState } from './patching/state-store.ts';
import { buildPeTargets, FIXED, FLAWED, NORMAL, winePath, type BuiltPeTarget, type PeVariant } from './test-targets/pe/pe-targets.test-helper.ts';

const skip = wineMissing() ?? false;
let dir: string;
let keys: Keys;
let built: Record<PeVariant, BuiltPeTarget>;
let harness: ReturnType<typeof createWineHarness>;
let agentBundle: string;
const daemons: ChildProcess[] = [];
const durations: string[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-agent-wine-'));
  built = await buildPeTargets(dir);
  keys = newKeys();
  await writeFile(join(dir, 'root.json'), rootBytes(rootDoc(keys), keys.root));
  harness = createWineHarness(dir);
  // The worker must sit beside the agent's bundle with its extension (see isolated-engine.ts).
  ({ 'suture-agent': agentBundle } = (await harness.bundle({
    'suture-agent': join(import.meta.dirname, 'main.ts'),
    'engine-worker': join(import.meta.dirname, 'engines', 'engine-worker.ts'),
  })) as { 'suture-agent': string });
});

after(async () => {
  for (const d of daemons) d.kill('SIGKILL');
  harness?.stop();
  if (durations.length) console.log(`# suture-agent under Wine: ${durations.join(', ')}`);
  if (dir) await rm(dir, { recursive: true, force: true });
});

let runs = 0;
/** `suture-agent --state-dir STATE --json ARGS...` under Wine; rejects on a non-zero exit with what it printed. */
async function agent(state: string, ...args: string[]): Promise<any> {
  const r = await harness.node([winePath(agentBundle), '--state-dir', winePath(state), '--json', ...args], `agent-${++runs}`);
  durations.push(`${args[0]} ${r.ms} ms`);
  if (r.code !== 0) throw new Error(`suture-agent ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}
const rootArg = () => ['--root', winePath(join(dir, 'root.json'))];

async function patchFile(name: string, t: BuiltPeTarget, patchlets: Patchlet[], signer = keys.publisher): Promise<string> {
  const doc: PatchDocument = { type: 'patch', specVersion: SPEC_VERSION, id: name, title: name, description: '', cves: ['CVE-2026-1234'], severity: 'high', module: t.identity, release: 1, created: new Date().toISOString(), patchlets };
  const file = join(dir, `${name}.json`);
  await writeFile(file, envelopeBytes(signDocument('patch', doc, signer)));
  return file;
}

/**
 * The target's Windows pid, from Wine's wmic: one of that image is running at a time here. Asked
 * again a few times, as a process starting or exiting meanwhile can spoil one listing.
 */
async function pidOf(image: string): Promise<number> {
  let pids: number[] = [];
  for (let tries = 0; tries < 5; tries++, await sleep(300)) if ((pids = await harness.pids(image)).length === 1) return pids[0]!;
  assert.fail(`not exactly one ${image} running: ${pids}`);
}

/** Waits for `fn`; on time-out fails with `context()` (a log, say). */
async function until(what: string, fn: () => Promise<boolean>, context: () => Promise<string> = async () => '', ms = 60_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`${what} within ${ms} ms\n${await context()}`);
    await sleep(200);
  }
}

type Target = Awaited<ReturnType<typeof harness.startTarget>>;
const ours = (events: { type: string; pid: number }[], pids: number[]) => events.filter((e) => pids.includes(e.pid)).map((e) => `${e.type} ${e.pid}`);

describe('suture-agent (Windows build) under Wine', { skip }, () => {
  test('apply, status and unapply signed patches to an EXE (detour) and a DLL (in-place); a restarted agent adopts from memory', async () => {
    const state = join(dir, 'state-cli');
    const exe = await harness.startTarget(built.exe, 'cli-exe');
    const dll = await harness.startTarget(built.dll, 'cli-dll');
    const [exePid, dllPid] = [await pidOf('target.exe'), await pidOf('host.exe')];
    const exeFile = await patchFile('SUT-exe', built.exe, built.exe.patchlets.detour);
    const dllFile = await patchFile('SUT-dll', built.dll, built.dll.patchlets['in-place']);

    const a1 = await agent(state, 'apply', winePath(exeFile), ...rootArg());
    assert.deepEqual(ours(a1.events, [exePid, dllPid]), [`applied ${exePid}`], 'only the process with that module is patched');
    const a2 = await agent(state, 'apply', winePath(dllFile));
    assert.deepEqual(ours(a2.events, [exePid, dllPid]), [`applied ${dllPid}`]);
    // The change was made by the engine worker (a detached node.exe), which left with the agent.
    const [worker, created] = (await readFile(join(state, 'engine-worker.pid'), 'utf8')).split(' ').map(Number) as [number, number];
    assert.ok(worker > 0 && created > 0, 'the pid file names the worker by pid and creation time (Windows reuses pids soon)');
    await until('the engine worker exits after the agent', async () => !(await harness.pids('node.exe')).includes(worker));
    for (const t of [exe, dll]) {
      assert.equal(await t.send('16'), FIXED, 'the flaw is gone');
      assert.equal(await t.send('5'), NORMAL, 'normal input still works');
    }

    const s = (await agent(state, 'status')) as AgentState & { enabled: { id: string }[] };
    assert.deepEqual(s.enabled.map((e) => e.id).sort(), ['SUT-dll', 'SUT-exe']);
    assert.deepEqual(s.applied.map((r) => `${r.patchId} ${r.pid} ${r.engine}`).sort(), [`SUT-dll ${dllPid} windows`, `SUT-exe ${exePid} windows`]);
    assert.deepEqual(s.intents, []);
    const detour = s.applied.find((r) => r.patchId === 'SUT-exe')!;
    assert.ok(detour.block, 'the detour has a block');
    assert.ok(BigInt(detour.startTime) > 116444736000000000n, 'start time is the creation FILETIME');
    assert.deepEqual(ours((await agent(state, 'apply', winePath(exeFile))).events, [exePid, dllPid]), [], 'applying again applies nothing twice');

    // As if the agent had been killed during the engine call: the record is gone, its intent is
    // left. The next start must find the change in memory (the block by VirtualQueryEx and its
    // header, the jump by ReadProcessMemory) and adopt it, not apply it a second time.
    const file = join(state, 'state.json');
    const raw = JSON.parse(await readFile(file, 'utf8')) as AgentState;
    raw.applied = raw.applied.filter((r) => r.patchId !== 'SUT-exe');
    raw.intents = [{ op: 'apply', patchId: 'SUT-exe', pid: exePid, startTime: detour.startTime, at: new Date().toISOString() }];
    await writeFile(file, JSON.stringify(raw));
    const adopted = await agent(state, 'apply', winePath(exeFile));
    assert.deepEqual(ours(adopted.events, [exePid, dllPid]), [`adopted ${exePid}`]);
    const again = (await agent(state, 'status')) as AgentState;
    const rec = again.applied.filter((r) => r.patchId === 'SUT-exe');
    assert.equal(rec.length, 1, 'recorded once');
    assert.deepEqual(rec[0]!.block, detour.block, 'the adopted record names the same block');
    assert.deepEqual(rec[0]!.regions, detour.regions);
    assert.equal(again.refused.length, 0, 'no second apply was attempted');
    assert.equal(await exe.send('16'), FIXED);

    const u1 = await agent(state, 'unapply', 'SUT-exe'); // by id: no root needed
    assert.deepEqual(ours(u1.events, [exePid, dllPid]), [`unapplied ${exePid}`]);
    const u2 = await agent(state, 'unapply', winePath(dllFile)); // by file
    assert.deepEqual(ours(u2.events, [exePid, dllPid]), [`unapplied ${dllPid}`]);
    for (const t of [exe, dll]) assert.equal(await t.send('16'), FLAWED, 'the original code runs again');
    assert.deepEqual((await agent(state, 'status')).applied, []);
    await Promise.all([exe.send('quit'), dll.send('quit')]);
  });

  test('an unsigned, tampered or wrongly signed patch is refused and nothing changes', async () => {
    const state = join(dir, 'state-bad');
    const exe = await harness.startTarget(built.exe, 'bad-exe');
    const good = await patchFile('SUT-good', built.exe, built.exe.patchlets['in-place']);
    const env = JSON.parse(await readFile(good, 'utf8'));
    const cases = {
      unsigned: { ...env, signatures: [] },
      tampered: { ...env, payload: Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('7d06', '7c06')).toString('base64') },
      untrusted: JSON.parse(await readFile(await patchFile('SUT-other', built.exe, built.exe.patchlets['in-place'], newKeys().publisher), 'utf8')),
    };
    for (const [name, bad] of Object.entries(cases)) {
      const file = join(dir, `bad-${name}.json`);
      await writeFile(file, JSON.stringify(bad));
      await assert.rejects(agent(state, 'apply', winePath(file), ...rootArg()), /patch refused, nothing was changed/, name);
      assert.equal(await exe.send('16'), FLAWED, `${name}: nothing was written`);
    }
    assert.deepEqual((await agent(state, 'status')).applied, []);
    await exe.send('quit');
  });

  test('crash guard: `suture-agent run` sees a patched process die of an exception and stops the patch on this host', async () => {
    const state = join(dir, 'state-crash');
    const rva = built.exe.checkLenRva;
    // A broken patch: its detour code is ud2, so the first call after applying dies of
    // EXCEPTION_ILLEGAL_INSTRUCTION (0xC000001D).
    const file = await patchFile('SUT-broken', built.exe, [{ kind: 'detour', rva, expect: '83f9107f06', code: '0f0b', relocations: [] }]);
    await agent(state, 'apply', winePath(file), ...rootArg());
    const d = harness.startNode([winePath(agentBundle), '--state-dir', winePath(state), 'run', '--interval', '500'], 'daemon');
    daemons.push(d);
    const victim: Target = await harness.startTarget(built.exe, 'victim');
    const victimPid = await pidOf('target.exe');
    const daemonLog = () => readFile(join(dir, 'daemon.log'), 'utf8');
    await until('the broken patch is applied by the daemon', async () => (await agent(state, 'status')).applied.some((a: { pid: number }) => a.pid === victimPid), daemonLog);
    assert.match(await victim.send('16', 3000), /^no reply/, 'the victim died');
    await victim.exited; // (wine's own exit status does not carry the exception code; the agent reads it with GetExitCodeProcess)
    await until('the crash is recorded', async () => Object.keys((await agent(state, 'status')).stopped).includes('SUT-broken'), daemonLog);
    const s = (await agent(state, 'status')) as AgentState;
    assert.deepEqual(s.crashes.map((c) => ({ patchId: c.patchId, pid: c.pid, exception: c.exception })), [{ patchId: 'SUT-broken', pid: victimPid, exception: '0xc000001d' }]);
    assert.match(s.stopped['SUT-broken']!, /exception 0xc000001d/);
    assert.deepEqual(s.applied, [], 'the dead process is no longer recorded');

    const later = await harness.startTarget(built.exe, 'later');
    await sleep(3000); // several daemon scans
    assert.equal(await later.send('16'), FLAWED, 'the stopped patch is not applied to new processes');
    assert.ok(d.exitCode === null && d.signalCode === null, 'the daemon is still running');
    d.kill('SIGKILL');
    await later.send('quit');
  });
});
