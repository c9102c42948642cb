/**
 * Two replicas on one PostgreSQL database, each with its own agent sockets. The sweep runs once
 * an hour here, so only LISTEN/NOTIFY can explain a delivery within a second.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createTestDatabaseUrl, type TestDatabase } from '../../src/db/test-db.ts';
import { connectAgent, enrollAgent, helloMessage } from '../agent-client.ts';
import { bearer, createUserAndLogin, dbKinds, makeTrust, patchDoc, signDocument } from '../helper.ts';

/** Rejects unless `p` settles within `ms`: the point of these tests is "at once", not "eventually". */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !(await fn()); await sleep(20)) if (Date.now() > end) assert.fail(`${what} within ${ms} ms`);
}

for (const kind of dbKinds()) {
  describe(`replicas (${kind})`, { skip: kind === 'pglite' ? 'PGlite is an embedded database of one process: two replicas cannot share it' : false }, () => {
    let db: TestDatabase;
    let dataDir: string;
    let a: FastifyInstance;
    let b: FastifyInstance;
    let admin: string;
    let trust: ReturnType<typeof makeTrust>;
    const socketUrl = (app: FastifyInstance) => `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/agents/socket`;
    const replica = async () => {
      // Same database and secrets, as replicas behind one load balancer; the sweep is out of the picture.
      const config = loadConfig({ SUTURE_DATA_DIR: dataDir, DATABASE_URL: db.url, JWT_SECRET: 'replica-test-secret-that-is-long-enough', AGENT_SWEEP_SECONDS: '3600' });
      const app = await buildApp({ config, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return app;
    };
    /** An agent enrolled through A, connected to `app` and welcomed, its first desired state read. */
    const agentOn = async (app: FastifyInstance, hostname: string, group = 'web') => {
      const agent = await enrollAgent(a, { admin, hostname, group });
      const c = await connectAgent(socketUrl(app), agent.token);
      c.send(helloMessage);
      await c.next('welcome');
      await c.next('desired');
      return { ...agent, c };
    };

    before(async () => {
      db = await createTestDatabaseUrl();
      dataDir = await mkdtemp(join(tmpdir(), 'suture-replicas-'));
      a = await replica();
      b = await replica();
      admin = (await createUserAndLogin(a, { username: 'alice', role: 'admin' })).token;
      trust = makeTrust(a.onlineKey);
      const root = await a.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope });
      assert.equal(root.statusCode, 200, root.body);
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await db?.drop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    test('a patch enabled through A reaches an agent held by B within a second; an unapply through A too', async () => {
      const agent = await agentOn(b, 'on-b-1');
      const pub = await a.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: signDocument('patch', patchDoc({ id: 'SUT-R-1', moduleSha256: 'c'.repeat(64) }), [trust.publisher]) });
      assert.equal(pub.statusCode, 201, pub.body);
      const on = await a.inject({ method: 'PUT', url: '/api/v1/patches/SUT-R-1/groups/web', headers: bearer(admin) });
      assert.equal(on.json().sentNow, 0, 'A holds no agent');
      const d = await within(1000, 'desired state through B', agent.c.next('desired'));
      assert.deepEqual(d.state, { version: on.json().version, enabled: ['SUT-R-1'] });
      assert.equal(d.patches.length, 1);

      const op = await a.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(admin), payload: { patchId: 'SUT-R-1', group: 'web' } });
      assert.equal(op.statusCode, 201, op.body);
      assert.equal(op.json().sentNow, 0);
      const cmd = await within(1000, 'unapply command through B', agent.c.next('command'));
      assert.deepEqual({ id: cmd.id, patchId: cmd.patchId }, { id: op.json().id, patchId: 'SUT-R-1' });
      assert.deepEqual((await within(1000, 'the disabled state through B', agent.c.next('desired'))).state.enabled, []);
      agent.c.send({ type: 'command-ack', commandId: cmd.id, outcome: 'done' });
      await until('A sees the acknowledgement', async () => (await a.inject({ method: 'GET', url: `/api/v1/operations/${cmd.id}`, headers: bearer(admin) })).json().acknowledged === 1);
      agent.c.ws.close();
    });

    test('revoking through A closes the agent\'s socket on B', async () => {
      const agent = await agentOn(b, 'on-b-2');
      const res = await a.inject({ method: 'POST', url: `/api/v1/agents/${agent.id}/revoke`, headers: bearer(admin) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await within(1000, 'the socket on B closes', agent.c.closed)).code, 4001);
    });

    test('a second connection of the same agent on A closes the one on B, never both', async () => {
      const agent = await agentOn(b, 'on-b-3');
      const again = await connectAgent(socketUrl(a), agent.token);
      assert.equal((await within(1000, 'the older socket on B closes', agent.c.closed)).code, 4000);
      again.send(helloMessage);
      await again.next('welcome');
      await until('B lets go of it', () => !b.agentHub.connectedIds().includes(agent.id));
      assert.ok(a.agentHub.connectedIds().includes(agent.id));
      // and back: a third connection on B closes the one on A
      const third = await connectAgent(socketUrl(b), agent.token);
      assert.equal((await within(1000, 'the socket on A closes', again.closed)).code, 4000);
      third.ws.close();
    });

    test('after its LISTEN connection is killed, a replica reconnects and resyncs what it missed', async () => {
      const agent = await agentOn(b, 'on-b-4', 'resync');
      const pub = await a.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: signDocument('patch', patchDoc({ id: 'SUT-R-2', moduleSha256: 'd'.repeat(64) }), [trust.publisher]) });
      assert.equal(pub.statusCode, 201, pub.body);
      // A change nobody is told about (committed without a notification, as if it were lost)...
      const version = await a.services.desired.enable({ patchId: 'SUT-R-2', group: 'resync', byUserId: null });
      await sleep(300);
      assert.equal(agent.c.ws.readyState, agent.c.ws.OPEN);
      const before = b.listener.connects;
      // ...then the listening connections are killed: on reconnect the replica resyncs from state.
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        const killed = await sql.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'suture-listener'");
        assert.equal(killed.rowCount, 2, 'both replicas listen');
      } finally {
        await sql.end();
      }
      const d = await within(5000, 'the missed state after the reconnect', agent.c.next('desired'));
      assert.deepEqual(d.state, { version, enabled: ['SUT-R-2'] });
      assert.ok(b.listener.connects > before && b.listener.listening);
      // and notifications flow again
      const off = await a.inject({ method: 'DELETE', url: '/api/v1/patches/SUT-R-2/groups/resync', headers: bearer(admin) });
      assert.deepEqual((await within(1000, 'a change after the reconnect', agent.c.next('desired'))).state, { version: off.json().version, enabled: [] });
      agent.c.ws.close();
    });
  });
}
