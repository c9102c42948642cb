/**
 * PostgreSQL goes away and comes back: two real server replicas on a private cluster, a real
 * agent held by replica B. While it is down, what needs the database answers 503 + Retry-After
 * and /healthz still answers; once it is back, both recover by themselves (no restart): requests
 * succeed, and B's LISTEN connection is back, so a change made through A reaches B's agent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SPEC_VERSION, type PatchDocument } from '@suture/shared/schemas';
import { apiClient, enrollAgent, login, publishPatch, publishRoot, runAgent, startServer, suture, until, type ServerProcess } from './harness.ts';
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';

const unavailable = privatePostgresUnavailable();

describe('PostgreSQL outage (two replicas, a real agent)', { skip: unavailable ?? false }, () => {
  let dir: string;
  let pg: PrivatePostgres | undefined;
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  let daemon: ChildProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'suture-outage-e2e-'));
    pg = await startPrivatePostgres();
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await b?.stop();
    await a?.stop();
    pg?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('stop PostgreSQL: 503 + Retry-After on what needs it, /healthz answers; start it again: the servers recover by themselves', async () => {
    const env = { SUTURE_DATA_DIR: join(dir, 'data'), DATABASE_URL: pg!.url };
    const admin = suture(['admin', 'create', '--username', 'alice', '--password-stdin'], { env, input: 'correct horse battery staple\n' });
    assert.equal(admin.status, 0, admin.stderr);
    a = await startServer(env);
    // B's sweep once an hour: after the outage, only its re-established LISTEN explains a push.
    b = await startServer({ ...env, AGENT_SWEEP_SECONDS: '3600' });
    const token = await login(a.url, 'alice', 'correct horse battery staple');
    const api = apiClient(a.url, token);
    const publisher = await publishRoot(a.url, token);
    const stateDir = join(dir, 'agent');
    const agentId = await enrollAgent({ url: b.url, token, group: 'outage', stateDir });
    daemon = runAgent(stateDir);
    await until(async () => (await api('GET', `/api/v1/agents/${agentId}`)).json.agent.online === true, 30_000, 'the agent connects to B');
    const doc: PatchDocument = {
      type: 'patch', specVersion: SPEC_VERSION, id: 'SUT-OUTAGE-1', title: 'outage', description: '', cves: [], severity: 'high',
      module: { sha256: 'ab'.repeat(32), size: 16384, name: 'libnothing.so', platform: 'linux', arch: 'x86_64', buildId: '0123456789abcdef' },
      release: 1, created: new Date().toISOString(), patchlets: [{ kind: 'in-place', rva: 0x1139, expect: '7f05', write: '7d05' }],
    };
    await publishPatch(a.url, token, doc, publisher);

    pg!.stop();
    for (const server of [a, b]) {
      const started = Date.now();
      const res = await fetch(`${server.url}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 503, await res.text());
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      assert.ok(Date.now() - started < 10_000, 'answered in seconds, not minutes');
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.ok(ready.headers.get('retry-after'));
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200, '/healthz does not need the database');
    }
    const refused = await api('PUT', '/api/v1/patches/SUT-OUTAGE-1/groups/outage');
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    await sleep(2000); // down for a while: the LISTEN connections are gone and retrying

    pg!.start();
    for (const server of [a, b]) await until(async () => (await fetch(`${server.url}/readyz`)).ok, 30_000, `${server.url} ready again`);
    await until(async () => (await api('GET', '/api/v1/agents')).status === 200, 30_000, 'requests succeed again');
    await until(async () => b!.logs().includes('LISTEN connection restored'), 30_000, 'B listens again');
    assert.equal((await api('GET', '/api/v1/patches/SUT-OUTAGE-1/groups')).json.items.length, 0, 'the refused change changed nothing');

    // The agent is held by B again (its socket may have survived, or it reconnected with back-off);
    // a change made through A reaches it, and it reports the patch it now has to enforce.
    await until(async () => (await api('GET', `/api/v1/agents/${agentId}`)).json.agent.online === true, 60_000, 'the agent is online again');
    const on = await api('PUT', '/api/v1/patches/SUT-OUTAGE-1/groups/outage');
    assert.equal(on.status, 200, JSON.stringify(on.json));
    await until(async () => {
      const d = (await api('GET', `/api/v1/agents/${agentId}`)).json as { patches: { patchId: string }[] };
      return d.patches.some((p) => p.patchId === 'SUT-OUTAGE-1');
    }, 30_000, 'the agent reports the patch enabled through A');
  });
});
