/**
 * Fleet end to end: a real server process on real PostgreSQL, a real agent process
 * (`suture-agent enroll`, `run`) and real target processes. A patch published and enabled for
 * the agent's group is applied within seconds, also to a target started later; an operator's
 * fleet-wide unapply reaches the agent over its WebSocket, every target is back to original,
 * the operation shows 100% acknowledged, and every report is stored exactly once, also across
 * an agent killed with SIGKILL and started again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SPEC_VERSION, type PatchDocument, type RootDocument } from '@suture/shared/schemas';
import { envelopeBytes, generateKeyPair, signDocument } from '@suture/shared/trust';
import { createTestDatabaseUrl, type TestDatabase } from '../../server/src/db/test-db.ts';
import { buildElfTargets, FIXED, FLAWED, flawPatchlets, gccMissing, startTarget, type BuiltTarget, type RunningTarget } from '../../agent/src/test-targets/elf-targets.test-helper.ts';
import { repoRoot, startServer, suture, until, type ServerProcess } from './harness.ts';

const agentMain = join(repoRoot, 'agent', 'src', 'main.ts');
const skip = gccMissing() ?? (process.platform !== 'linux' || process.getuid?.() !== 0 ? 'the agent needs root on Linux (ptrace)' : false);

describe('fleet: enroll, report, unapply fleet-wide (server + agent + targets)', { skip }, () => {
  let dir: string;
  let db: TestDatabase;
  let server: ServerProcess;
  let token: string;
  let lib: BuiltTarget;
  let serverEnv: Record<string, string>;
  let replica: ServerProcess | undefined;
  const targets: RunningTarget[] = [];
  let daemon: ChildProcess | undefined;
  const stateDir = () => join(dir, 'agent-state');
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, json: (await res.json()) as any };
  };
  const agent = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', agentMain, '--state-dir', stateDir(), '--json', ...args], { cwd: repoRoot, encoding: 'utf8' });
  const daemons: ChildProcess[] = [];
  const startDaemon = (state = stateDir()) => {
    const d = spawn(process.execPath, ['--import', 'tsx', agentMain, '--state-dir', state, 'run', '--interval', '500'], { cwd: repoRoot, stdio: 'ignore' });
    daemons.push(d);
    if (state === stateDir()) daemon = d;
    return d;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'suture-fleet-e2e-'));
    ({ shared: lib } = await buildElfTargets(dir, ['shared']));
    db = await createTestDatabaseUrl();
    const env = { SUTURE_DATA_DIR: join(dir, 'data'), DATABASE_URL: db.url };
    serverEnv = env;
    const admin = suture(['admin', 'create', '--username', 'alice', '--password-stdin'], { env, input: 'correct horse battery staple\n' });
    assert.equal(admin.status, 0, admin.stderr);
    server = await startServer(env);
    const login = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'correct horse battery staple' }) });
    token = ((await login.json()) as { token: string }).token;
  });
  after(async () => {
    for (const d of daemons) d.kill('SIGKILL');
    await Promise.all(targets.map((t) => t.stop()));
    await replica?.stop();
    await server?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('publish + enable patches every target (also one started later); a fleet-wide unapply restores all, 100% acknowledged; each report stored once', async () => {
    // Trust: a root naming our publisher and the server's online key.
    const online = (await api('GET', '/api/v1/keys/online')).json;
    const [rootKey, publisher] = [generateKeyPair(), generateKeyPair()];
    const rootDoc: RootDocument = {
      type: 'root', specVersion: SPEC_VERSION, version: 1, expires: new Date(Date.now() + 86_400_000).toISOString(),
      keys: Object.fromEntries([rootKey, publisher, { keyid: online.keyid, publicKey: online.public }].map((k) => [k.keyid, { keytype: 'ed25519' as const, public: k.publicKey }])),
      roles: { root: { keyids: [rootKey.keyid], threshold: 1 }, publisher: { keyids: [publisher.keyid], threshold: 1 }, online: { keyids: [online.keyid], threshold: 1 } },
    };
    const put = await fetch(`${server.url}/api/v1/root`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: Buffer.from(envelopeBytes(signDocument('root', rootDoc, [rootKey]))) });
    assert.equal(put.status, 200, await put.text());

    // Enroll (the agent pins the server's root) and run the agent next to two running targets.
    const enrollment = await api('POST', '/api/v1/enrollment-tokens', { name: 'e2e', group: 'e2e', maxUses: 1, expiresInHours: 1 });
    const enrolled = agent('enroll', '--server', server.url, '--token', enrollment.json.token);
    assert.equal(enrolled.status, 0, enrolled.stderr);
    const agentId = JSON.parse(enrolled.stdout).agentId as string;
    for (let i = 0; i < 2; i++) targets.push(await startTarget(lib));
    startDaemon();
    const mine = (e: { pid: number }) => targets.some((t) => t.pid === e.pid);
    const events = async () => ((await api('GET', `/api/v1/agents/${agentId}/events?limit=500`)).json.items as { id: string; type: string; pid: number; commandId: string | null }[]).filter(mine);
    await until(async () => Boolean((await api('GET', '/api/v1/agents?group=e2e')).json.items[0].lastSeenAt), 20_000, 'the agent connects');

    // Publish a signed patch and enable it for the group: every running target is patched within seconds.
    const doc: PatchDocument = { type: 'patch', specVersion: SPEC_VERSION, id: 'SUT-E2E-1', title: 'check_len off-by-one', description: '', cves: ['CVE-2026-4242'], severity: 'high', module: lib.identity, release: 1, created: new Date().toISOString(), patchlets: flawPatchlets(lib.checkLenRva).detour };
    const published = await fetch(`${server.url}/api/v1/patches`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: Buffer.from(envelopeBytes(signDocument('patch', doc, [publisher]))) });
    assert.equal(published.status, 201, await published.text());
    const enabledAt = Date.now();
    const enabled = await api('PUT', '/api/v1/patches/SUT-E2E-1/groups/e2e');
    assert.equal(enabled.status, 200, JSON.stringify(enabled.json));
    assert.equal(enabled.json.sentNow, 1, 'pushed to the connected agent at once');
    for (const t of targets) await until(async () => (await t.probe()) === FIXED, 10_000, `pid ${t.pid} patched`);
    const patchedIn = Date.now() - enabledAt;
    // A target started afterwards is patched too.
    targets.push(await startTarget(lib));
    await until(async () => (await targets[2]!.probe()) === FIXED, 10_000, 'the late target is patched');
    await until(async () => (await events()).filter((e) => e.type === 'applied').length === 3, 20_000, 'the applies reach the server');
    assert.ok(patchedIn < 5000, `patched ${patchedIn} ms after enabling`);
    // The agent reports its inventory and where the patch stands: applied in all 3 processes that load the library.
    const detail = async () => (await api('GET', `/api/v1/agents/${agentId}`)).json as { agent: { online: boolean }; modules: { sha256: string; processes: number }[]; patches: { patchId: string; matching: number; applied: number }[] };
    await until(async () => {
      const d = await detail();
      const p = d.patches.find((x) => x.patchId === 'SUT-E2E-1');
      return d.agent.online && p?.matching === 3 && p.applied === 3 && d.modules.find((m) => m.sha256 === lib.identity.sha256)?.processes === 3;
    }, 20_000, 'the agent reports the patch applied in every target');

    // Unapply fleet-wide and follow the operation to 100%.
    const op = await api('POST', '/api/v1/operations/unapply', { patchId: 'SUT-E2E-1' });
    assert.equal(op.status, 201, JSON.stringify(op.json));
    const done = await until(async () => {
      const p = (await api('GET', `/api/v1/operations/${op.json.id}`)).json;
      return p.pending === 0 ? p : undefined;
    }, 20_000, 'every agent acknowledges');
    assert.deepEqual({ total: done.total, acknowledged: done.acknowledged, failed: done.failed }, { total: 1, acknowledged: 1, failed: 0 });
    for (const t of targets) assert.equal(await t.probe(), FLAWED, 'back to original');
    await until(async () => (await events()).filter((e) => e.type === 'unapplied').length === 3, 20_000, 'the unapply outcomes reach the server');
    const unapplied = (await events()).filter((e) => e.type === 'unapplied');
    assert.ok(unapplied.every((e) => e.commandId === op.json.id), 'each outcome names the operation it answers');
    await until(async () => !(await detail()).patches.some((x) => x.patchId === 'SUT-E2E-1'), 20_000, 'the agent no longer reports the patch (disabled)');

    // SIGKILL the agent and start it again: it reconnects, nothing is lost or stored twice.
    daemon!.kill('SIGKILL');
    await new Promise((r) => daemon!.once('exit', r));
    startDaemon();
    await sleep(3000);
    const after = await events();
    assert.equal(after.length, 6, `3 applied + 3 unapplied, each once: ${after.map((e) => e.type).join(', ')}`);
    assert.equal(new Set(after.map((e) => e.id)).size, 6);
    const agents = (await api('GET', '/api/v1/agents?group=e2e')).json.items;
    assert.equal(agents[0].hostname.length > 0, true);
    assert.notEqual(agents[0].lastSeenAt, null);
  });

  // The cause of the old flakiness: the desired state read its version and its enablements at once, so a push could
  // carry the new version with the old state, and nothing sent it again. Now the version is read first, and the
  // change reaches replica B through LISTEN/NOTIFY (no waiting for a sweep).
  test('two replicas: enable and unapply issued on one reach an agent held by the other, also across a SIGKILL of that replica', async () => {
    // Same PostgreSQL, same secrets; its sweep once an hour, so only a notification explains a delivery.
    const replicaEnv = { ...serverEnv, AGENT_SWEEP_SECONDS: '3600' };
    replica = await startServer(replicaEnv);
    const port = new URL(replica.url).port;
    const enrollment = await api('POST', '/api/v1/enrollment-tokens', { name: 'b', group: 'replica-b', maxUses: 1, expiresInHours: 1 });
    const state = join(dir, 'agent-b');
    const enrolled = spawnSync(process.execPath, ['--import', 'tsx', agentMain, '--state-dir', state, '--json', 'enroll', '--server', replica.url, '--token', enrollment.json.token], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(enrolled.status, 0, enrolled.stderr);
    const agentId = JSON.parse(enrolled.stdout).agentId as string;
    startDaemon(state);
    await until(async () => Boolean((await api('GET', '/api/v1/agents?group=replica-b')).json.items[0].lastSeenAt), 20_000, 'agent B connects to replica B');
    for (const t of targets) assert.equal(await t.probe(), FLAWED);

    // Enabled through replica A: replica B is notified and pushes the new desired state to its agent.
    const on = await api('PUT', '/api/v1/patches/SUT-E2E-1/groups/replica-b');
    assert.equal(on.json.sentNow, 0, 'replica A holds no agent of the group');
    const diagnose = (e: Error) => {
      const logs = replica!.logs().split('\n').filter((l) => /agent|desired|sweep|error/i.test(l)).slice(-30).join('\n');
      const status = spawnSync(process.execPath, ['--import', 'tsx', agentMain, '--state-dir', state, '--json', 'status'], { encoding: 'utf8' }).stdout.slice(0, 3000);
      throw new Error(`${e.message}\nreplica B log:\n${logs}\nagent B status:\n${status}`);
    };
    for (const t of targets) await until(async () => (await t.probe()) === FIXED, 25_000, `pid ${t.pid} patched through replica B`).catch(diagnose);

    // SIGKILL replica B and start it again where the agent looks for it: the agent reconnects.
    replica.proc.kill('SIGKILL');
    await new Promise((r) => replica!.proc.once('exit', r));
    replica = await startServer({ ...replicaEnv, PORT: port });
    const op = await api('POST', '/api/v1/operations/unapply', { patchId: 'SUT-E2E-1', group: 'replica-b' });
    assert.equal(op.status, 201, JSON.stringify(op.json));
    const done = await until(async () => {
      const p = (await api('GET', `/api/v1/operations/${op.json.id}`)).json;
      return p.pending === 0 ? p : undefined;
    }, 45_000, 'agent B acknowledges through replica B');
    assert.deepEqual({ total: done.total, acknowledged: done.acknowledged }, { total: 1, acknowledged: 1 });
    for (const t of targets) assert.equal(await t.probe(), FLAWED);
    const mine = (e: { pid: number }) => targets.some((t) => t.pid === e.pid);
    await until(async () => {
      const ev = ((await api('GET', `/api/v1/agents/${agentId}/events?limit=500`)).json.items as { id: string; type: string; pid: number }[]).filter(mine);
      return ev.filter((e) => e.type === 'applied').length === 3 && ev.filter((e) => e.type === 'unapplied').length === 3 && new Set(ev.map((e) => e.id)).size === ev.length;
    }, 20_000, 'agent B\'s outcomes are stored once each');
  });
});
