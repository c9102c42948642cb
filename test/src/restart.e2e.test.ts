/**
 * Restarts end to end, real processes throughout: a real server on real PostgreSQL, real agent
 * daemons, real target programs.
 * - The server is SIGKILLed in the middle of a staged rollout and started again on the same
 *   database and port, while targets start during the outage: the agents reconnect, the rollout
 *   goes on through its rings and completes, every target is patched, and every apply is stored
 *   exactly once. Several agents share this machine, so each runs in a PID namespace of its own
 *   and patches only the targets started there.
 * - An agent is SIGKILLed with a patch applied and started again while a new target appeared:
 *   it keeps what is in memory as it is (no second apply, the same single detour) and patches
 *   the new target.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SPEC_VERSION, type PatchDocument } from '@suture/shared/schemas';
import { createTestDatabaseUrl, type TestDatabase } from '../../server/src/db/test-db.ts';
import { buildElfTargets, FIXED, FLAWED, flawPatchlets, gccMissing, startTarget, type BuiltTarget, type RunningTarget } from '../../agent/src/test-targets/elf-targets.test-helper.ts';
import { BLOCK_HEADER_SIZE, readBlockHeader } from '../../agent/src/engines/engine.ts';
import { parseMaps } from '../../agent/src/inventory/proc-maps.ts';
import { createLinuxProcessAccess } from '../../agent/src/patching/process-access.ts';
import { apiClient, enrollAgent, login, publishPatch, publishRoot, repoRoot, runAgent, runIsolatedAgent, startServer, suture, until, wrappedPids, type IsolatedAgent, type ServerProcess } from './harness.ts';

const PATCH_ID = 'SUT-RESTART-1';
const skip =
  gccMissing() ??
  (process.platform !== 'linux' || process.getuid?.() !== 0 ? 'the agent needs root on Linux (ptrace)' : undefined) ??
  (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0 ? 'unshare cannot make a PID namespace here' : false);

interface Event { id: string; type: string; pid: number; patchId: string }

describe('restarts: server SIGKILLed mid-rollout, agent SIGKILLed with a patch applied', { skip }, () => {
  let dir: string;
  let db: TestDatabase;
  let env: Record<string, string>;
  let server: ServerProcess;
  let token: string;
  let lib: BuiltTarget;
  let api: ReturnType<typeof apiClient>;
  const targets: RunningTarget[] = [];
  const agents: ChildProcess[] = [];
  const events = async (agentId: string) => (await api('GET', `/api/v1/agents/${agentId}/events?limit=500`)).json.items as Event[];
  const online = async (agentId: string) => (await api('GET', `/api/v1/agents/${agentId}`)).json.agent.online === true;
  const outbox = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, 'outbox.json'), 'utf8')) as unknown[];
  const kill = async (p: ChildProcess) => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'suture-restart-e2e-'));
    ({ shared: lib } = await buildElfTargets(dir, ['shared']));
    db = await createTestDatabaseUrl();
    env = { SUTURE_DATA_DIR: join(dir, 'data'), DATABASE_URL: db.url };
    const admin = suture(['admin', 'create', '--username', 'alice', '--password-stdin'], { env, input: 'correct horse battery staple\n' });
    assert.equal(admin.status, 0, admin.stderr);
    server = await startServer(env);
    token = await login(server.url, 'alice', 'correct horse battery staple');
    api = apiClient(server.url, token);
    const publisher = await publishRoot(server.url, token);
    const doc: PatchDocument = { type: 'patch', specVersion: SPEC_VERSION, id: PATCH_ID, title: 'check_len off-by-one', description: '', cves: ['CVE-2026-4242'], severity: 'high', module: lib.identity, release: 1, created: new Date().toISOString(), patchlets: flawPatchlets(lib.checkLenRva).detour };
    await publishPatch(server.url, token, doc, publisher);
  });
  after(async () => {
    for (const a of agents) await kill(a);
    await Promise.all(targets.map((t) => t.stop()));
    await server?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('SIGKILL the server in the middle of a rollout and start it again: agents reconnect and converge, every target patched, no event lost, none duplicated', async () => {
    // Ring 0: one agent; ring 1: two. Stages of 30 s: longer than an agent's reconnect back-off
    // after the outage below, so a stage never ends before its agents are back.
    for (const [group, ring] of [['ring-0', 0], ['ring-1', 1]] as const) assert.equal((await api('PUT', `/api/v1/groups/${group}`, { ring, autoEnable: null })).status, 200);
    const fleet: { id: string; stateDir: string; agent: IsolatedAgent; targets: { t: RunningTarget; nsPid: number }[] }[] = [];
    for (const [n, group] of ['ring-0', 'ring-1', 'ring-1'].entries()) {
      const stateDir = join(dir, `agent-${n}`);
      const id = await enrollAgent({ url: server.url, token, group, stateDir });
      const agent = await runIsolatedAgent(stateDir);
      agents.push(agent.proc);
      fleet.push({ id, stateDir, agent, targets: [] });
    }
    const addTarget = async (a: (typeof fleet)[number]) => {
      const t = await startTarget(lib, { wrap: a.agent.wrap });
      targets.push(t);
      a.targets.push({ t, nsPid: (await wrappedPids(t.pid)).nsPid });
    };
    for (const a of fleet) await addTarget(a);
    // Online, and the inventory in (a stage counts the agents that load the module).
    for (const a of fleet)
      await until(async () => (await online(a.id)) && ((await api('GET', `/api/v1/agents/${a.id}`)).json.modules as { sha256: string }[]).some((m) => m.sha256 === lib.identity.sha256), 30_000, `agent ${a.id} online with its inventory`);

    // 45 s stages: stage 1 starts as soon as the restarted server ticks, and ring 1 must reconnect
    // (its back-off can reach ~24 s after a kill) and apply within it, or the stage halts by design.
    const created = await api('POST', '/api/v1/rollouts', { patchId: PATCH_ID, stageMinutes: 0.75, minAppliedShare: 1, maxFailures: 0, maxCrashes: 0 });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const rolloutId = created.json.id as string;
    const [ring0, ...ring1] = fleet as [(typeof fleet)[number], ...(typeof fleet)[number][]];
    await until(async () => (await ring0.targets[0]!.t.probe()) === FIXED, 15_000, 'ring 0 patched');
    for (const a of ring1) assert.equal(await a.targets[0]!.t.probe(), FLAWED, 'ring 1 waits for its stage');

    // SIGKILL the server mid-rollout (stage 0 running); targets start while it is down.
    assert.equal((await api('GET', `/api/v1/rollouts/${rolloutId}`)).json.currentStage, 0);
    await kill(server.proc);
    for (const a of fleet) await addTarget(a);
    await until(async () => (await ring0.targets[1]!.t.probe()) === FIXED, 15_000, 'ring 0 keeps enforcing its last accepted state while the server is down');
    for (const a of ring1) assert.equal(await a.targets[1]!.t.probe(), FLAWED);
    server = await startServer({ ...env, PORT: new URL(server.url).port });

    const done = await until(async () => {
      const r = (await api('GET', `/api/v1/rollouts/${rolloutId}`)).json;
      if (r.status === 'halted') throw Object.assign(new Error(`halted: ${r.haltReason}`), { halted: true });
      return r.status === 'completed' ? r : undefined;
    }, 150_000, 'the rollout completes').catch((err: Error) => assert.fail(`${err.message}\nserver log:\n${server.logs().split('\n').slice(-30).join('\n')}`));
    assert.deepEqual(done.stages.map((s: { status: string; agents: number; applied: number }) => [s.status, s.agents, s.applied]), [['passed', 1, 1], ['passed', 2, 2]]);
    for (const a of fleet) for (const { t } of a.targets) assert.equal(await t.probe(), FIXED, `target ${t.pid} patched`);

    // Every report reached the server (outboxes empty) and is stored exactly once.
    for (const a of fleet) await until(() => outbox(a.stateDir).length === 0, 20_000, `agent ${a.id} has every report acknowledged`);
    const all: Event[] = [];
    for (const a of fleet) {
      const ev = await events(a.id);
      all.push(...ev);
      const applied = ev.filter((e) => e.type === 'applied' && e.patchId === PATCH_ID).map((e) => e.pid).sort();
      assert.deepEqual(applied, a.targets.map((x) => x.nsPid).sort(), `agent ${a.id}: one applied event per target: ${JSON.stringify(ev)}`);
      assert.deepEqual(ev.filter((e) => e.type !== 'applied'), [], 'nothing else happened');
    }
    assert.equal(all.length, 6);
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'event ids unique');
    for (const a of agents) await kill(a);
  });

  test('SIGKILL an agent and start it again: it adopts what is applied, applies nothing twice, and patches a target started while it was down', async () => {
    const stateDir = join(dir, 'agent-solo');
    const agentId = await enrollAgent({ url: server.url, token, group: 'solo', stateDir });
    const first = await startTarget(lib);
    targets.push(first);
    let daemon = runAgent(stateDir);
    agents.push(daemon);
    await until(() => online(agentId), 30_000, 'the agent connects');
    assert.equal((await api('PUT', `/api/v1/patches/${PATCH_ID}/groups/solo`)).status, 200);
    await until(async () => (await first.probe()) === FIXED, 15_000, 'the first target patched');
    await until(async () => (await events(agentId)).some((e) => e.pid === first.pid), 15_000, 'the apply reported');
    const memory = () => inMemory(first.pid, lib);
    const before = memory();
    assert.equal(before.blocks.length, 1, 'one detour block');

    await kill(daemon);
    const second = await startTarget(lib);
    targets.push(second);
    await sleep(1500); // several scan intervals: nobody patches it while the agent is down
    assert.equal(await second.probe(), FLAWED);
    daemon = runAgent(stateDir);
    agents.push(daemon);
    await until(async () => (await second.probe()) === FIXED, 30_000, 'the target started while the agent was down is patched');
    await until(() => online(agentId), 30_000, 'the agent reconnects');
    await until(() => outbox(stateDir).length === 0, 20_000, 'every report acknowledged');
    await sleep(2000); // more scans: a second apply of the first target would show by now

    assert.equal(await first.probe(), FIXED);
    assert.deepEqual(memory(), before, 'the first target\'s memory is as the first run left it: the same jump, the same single block');
    const ev = (await events(agentId)).filter((e) => e.pid === first.pid || e.pid === second.pid);
    assert.deepEqual(ev.map((e) => `${e.type} ${e.pid}`), [`applied ${first.pid}`, `applied ${second.pid}`], 'one apply per process, nothing twice');
    assert.equal(new Set(ev.map((e) => e.id)).size, ev.length);
    const status = JSON.parse(spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'agent', 'src', 'main.ts'), '--state-dir', stateDir, '--json', 'status'], { cwd: repoRoot, encoding: 'utf8' }).stdout) as { applied: { pid: number; patchId: string }[] };
    assert.deepEqual(status.applied.filter((r) => r.patchId === PATCH_ID).map((r) => r.pid).sort(), [first.pid, second.pid].sort(), 'one record per process');
  });
});

/** What is at check_len in `pid` (the jump to the detour) and the detour blocks of our patch there (address and bytes). */
function inMemory(pid: number, lib: BuiltTarget): { jump: string; blocks: { start: string; bytes: string }[] } {
  const maps = parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
  const base = maps.find((m) => m.path === lib.module && m.offset === 0n)!.start;
  const mem = createLinuxProcessAccess();
  const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');
  const blocks = maps
    .filter((m) => m.inode === 0 && m.path === '' && m.perms === 'r-xp')
    .filter((m) => {
      const head = mem.read(pid, m.start, BLOCK_HEADER_SIZE);
      return head && readBlockHeader(head) === PATCH_ID;
    })
    .map((m) => ({ start: m.start.toString(16), bytes: hex(mem.read(pid, m.start, Number(m.end - m.start))) }));
  return { jump: hex(mem.read(pid, base + BigInt(lib.checkLenRva), 5)), blocks };
}
