/** The agent WebSocket over a real socket, on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import WebSocket from 'ws';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROTOCOL_VERSION, inventoryDigest, parseMessage, type ServerMessage } from '@suture/shared/protocol';
import { bearer, createUserAndLogin, dbKinds, expectError, patchDoc, startTestServer, type TestServer, type Trust } from '../helper.ts';
import { envelopeBytes, signDocument } from '@suture/shared/trust';

for (const kind of dbKinds()) {
  describe(`agent socket (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let url: string;
    let trust: Trust;

    /** Enrolls an agent and returns a fresh agent token for it. */
    async function newAgent(hostname: string, group = 'web') {
      const tok = await t.app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(admin), payload: { name: hostname, group, maxUses: 1, expiresInHours: 1 } });
      const enrolled = await t.app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: { token: tok.json().token, hostname, os: 'linux', arch: 'x86_64', version: '0.1.0' } });
      const { agent, credential } = enrolled.json();
      const s = await t.app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential } });
      return { id: agent.id as string, token: s.json().token as string };
    }

    /** A connected client that queues what the server sends. */
    async function connect(token: string) {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      const inbox: ServerMessage[] = [];
      const waiters: (() => void)[] = [];
      ws.on('message', (d: Buffer) => {
        const p = parseMessage('server', d);
        assert.ok(p.ok, `the server sent an invalid message: ${d.toString()}`);
        inbox.push(p.message);
        waiters.splice(0).forEach((w) => w());
      });
      const closed = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
      await new Promise<void>((res, rej) => (ws.once('open', () => res()), ws.once('unexpected-response', (_q, r) => rej(new Error(`upgrade refused: ${r.statusCode}`))), ws.once('error', rej)));
      const next = async <T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> => {
        for (;;) {
          const i = inbox.findIndex((m) => m.type === type);
          if (i >= 0) return inbox.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
          await new Promise<void>((res) => waiters.push(res));
        }
      };
      const send = (m: object) => ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...m }));
      return { ws, next, send, closed };
    }
    const hello = { type: 'hello', agentVersion: '0.2.0', os: 'linux', arch: 'x86_64', hostname: 'renamed-host', desiredVersion: 0 };

    before(async () => {
      t = await startTestServer(kind, { AGENT_SWEEP_SECONDS: '1' }); // the sweep test below waits for it
      ({ admin, trust, wsUrl: url } = t);
    });
    after(async () => t?.close());

    test('the upgrade needs an agent token: none, garbage or a person\'s session is refused with 401', async () => {
      for (const token of ['', 'garbage', admin]) await assert.rejects(connect(token), /upgrade refused: 401/);
    });

    test('hello is answered with welcome and updates the agent; events are stored once however often they are sent', async () => {
      const a = await newAgent('web-01');
      const c = await connect(a.token);
      c.send(hello);
      const w = await c.next('welcome');
      assert.equal(w.agentId, a.id);
      assert.equal(w.group, 'web');
      const row = await t.app.db.prisma.agent.findUnique({ where: { id: a.id } });
      assert.equal(row?.hostname, 'renamed-host');
      assert.equal(row?.version, '0.2.0');
      const ev = (type: string) => ({ id: randomUUID(), at: new Date().toISOString(), type, patchId: 'SUT-1', pid: 4242 });
      const batch = [ev('applied'), ev('refused'), ev('crash')];
      c.send({ type: 'events', events: batch.slice(0, 2) });
      assert.deepEqual((await c.next('events-ack')).ids, batch.slice(0, 2).map((e) => e.id));
      c.send({ type: 'events', events: batch }); // the agent did not see the first ack: it sends again
      assert.deepEqual((await c.next('events-ack')).ids, batch.map((e) => e.id));
      const stored = await t.app.services.fleet.events({ agentId: a.id, limit: 100 });
      assert.deepEqual(stored.map((e) => e.id).sort(), batch.map((e) => e.id).sort());
      c.ws.close();
    });

    test('inventory: a full snapshot replaces, a delta adds and removes', async () => {
      const a = await newAgent('web-02');
      const c = await connect(a.token);
      const m = (n: string, processes: number) => ({ sha256: n.repeat(64), name: `lib${n}.so`, processes });
      c.send({ type: 'inventory', full: true, modules: [m('a', 3), m('b', 1)] });
      c.send({ type: 'inventory', full: false, modules: [m('b', 0), m('c', 2)] });
      c.send(hello); // processed in order: once welcome arrives, both inventories are stored
      await c.next('welcome');
      assert.deepEqual(await t.app.services.fleet.modules(a.id), [{ sha256: 'a'.repeat(64), name: 'liba.so', processes: 3 }, { sha256: 'c'.repeat(64), name: 'libc.so', processes: 2 }]);
      c.ws.close();
    });

    test('inventory digest: a hello naming the stored digest is told the inventory is current; any other, or a delta without one, is not', async () => {
      const a = await newAgent('web-02b');
      const m = (n: string, processes: number) => ({ sha256: n.repeat(64), name: `lib${n}.so`, processes });
      const set = [m('a', 3), m('b', 1)];
      const digest = inventoryDigest(set);
      const welcome = async (inventoryDigest?: string) => {
        const c = await connect(a.token);
        c.send({ ...hello, ...(inventoryDigest ? { inventoryDigest } : {}) });
        return { c, current: (await c.next('welcome')).inventoryCurrent };
      };
      let { c, current } = await welcome(digest);
      assert.equal(current, false, 'nothing stored yet');
      c.send({ type: 'inventory', full: true, modules: set, digest });
      c.send(hello); // answered once the inventory before it is stored
      await c.next('welcome');
      c.ws.close();
      ({ c, current } = await welcome(digest));
      assert.equal(current, true);
      c.ws.close();
      ({ c, current } = await welcome(inventoryDigest([m('a', 3), m('b', 2)])));
      assert.equal(current, false, 'a process count differs');
      c.ws.close();
      ({ c, current } = await welcome());
      assert.equal(current, false, 'a hello without a digest');
      // A delta that carries the digest of the new whole set keeps it current; one without clears it.
      const after = [m('a', 3), m('c', 2)];
      c.send({ type: 'inventory', full: false, modules: [m('b', 0), m('c', 2)], digest: inventoryDigest(after) });
      c.send(hello);
      await c.next('welcome');
      c.ws.close();
      ({ c, current } = await welcome(inventoryDigest(after)));
      assert.equal(current, true, 'the delta moved the stored digest');
      assert.deepEqual(await t.app.services.fleet.modules(a.id), after);
      c.send({ type: 'inventory', full: false, modules: [m('d', 1)] });
      c.send(hello);
      await c.next('welcome');
      c.ws.close();
      ({ c, current } = await welcome(inventoryDigest([...after, m('d', 1)])));
      assert.equal(current, false, 'the last inventory message carried no digest');
      c.ws.close();
    });

    test('a bad frame gets an error and the socket closes; nothing is stored', async () => {
      const a = await newAgent('web-03');
      for (const frame of ['not json', JSON.stringify({ v: 99, type: 'hello' }), JSON.stringify({ v: 1, type: 'events', events: [{ id: 'x' }] })]) {
        const c = await connect(a.token);
        c.ws.send(frame);
        const e = await c.next('error');
        assert.match(e.code, /not-json|unsupported-version|invalid/);
        assert.equal((await c.closed).code, 4002);
      }
      assert.deepEqual(await t.app.services.fleet.events({ agentId: a.id, limit: 10 }), []);
    });

    test('a second connection of the same agent replaces the first; tokens are renewed over the socket', async () => {
      const a = await newAgent('web-04');
      const first = await connect(a.token);
      const second = await connect(a.token);
      assert.equal((await first.closed).code, 4000);
      second.send({ type: 'renew-token' });
      const renewed = await second.next('token');
      assert.deepEqual(await t.app.services.agents.authenticate(renewed.token), { agentId: a.id, group: 'web' });
      second.ws.close();
    });

    test('revoking an agent closes its socket and refuses it from then on', async () => {
      const a = await newAgent('web-05');
      const c = await connect(a.token);
      c.send(hello);
      await c.next('welcome');
      await t.app.inject({ method: 'POST', url: `/api/v1/agents/${a.id}/revoke`, headers: bearer(admin) });
      assert.equal((await c.closed).code, 4001);
      await assert.rejects(connect(a.token), /upgrade refused: 401/);
    });

    test('unapply by group: connected agents get the command at once, an offline one when it connects; progress per agent', async () => {
      const operator = (await createUserAndLogin(t.app, { username: `op-${kind}`, role: 'operator' })).token;
      const [a1, a2, a3] = [await newAgent('ops-1', 'ops'), await newAgent('ops-2', 'ops'), await newAgent('ops-3', 'ops')];
      const c1 = await connect(a1.token);
      const c2 = await connect(a2.token);
      for (const c of [c1, c2]) (c.send(hello), await c.next('welcome'));
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(operator), payload: { patchId: 'SUT-9', group: 'ops' } });
      assert.equal(res.statusCode, 201, res.body);
      const { id, targets, sentNow } = res.json();
      assert.deepEqual({ targets, sentNow }, { targets: 3, sentNow: 2 });
      for (const c of [c1, c2]) assert.deepEqual(await c.next('command'), { v: 1, type: 'command', id, kind: 'unapply', patchId: 'SUT-9' });
      c1.send({ type: 'command-ack', commandId: id, outcome: 'done' });
      c2.send({ type: 'command-ack', commandId: id, outcome: 'failed', detail: 'busy' });
      c1.send({ type: 'command-ack', commandId: id, outcome: 'failed' }); // a repeat changes nothing
      for (const c of [c1, c2]) (c.send(hello), await c.next('welcome')); // acks processed
      const progress = async () => (await t.app.inject({ url: `/api/v1/operations/${id}`, headers: bearer(operator) })).json();
      assert.deepEqual((({ total, acknowledged, failed, pending }) => ({ total, acknowledged, failed, pending }))(await progress()), { total: 3, acknowledged: 1, failed: 1, pending: 1 });
      const c3 = await connect(a3.token);
      c3.send(hello);
      await c3.next('welcome');
      assert.equal((await c3.next('command')).id, id, 'the offline agent gets it on connect');
      c3.send({ type: 'command-ack', commandId: id, outcome: 'done' });
      c3.send(hello);
      await c3.next('welcome');
      const done = await progress();
      assert.deepEqual({ acknowledged: done.acknowledged, pending: done.pending }, { acknowledged: 2, pending: 0 });
      assert.equal(done.targets.find((x: { agentId: string }) => x.agentId === a2.id).detail, 'busy');
      for (const c of [c1, c2, c3]) c.ws.close();
    });

    test('unapply from one agent targets it alone; an unknown or revoked agent is 404 and records nothing', async () => {
      const [one, other, gone] = [await newAgent('solo-1', 'solo'), await newAgent('solo-2', 'solo'), await newAgent('solo-3', 'solo')];
      await t.app.inject({ method: 'POST', url: `/api/v1/agents/${gone.id}/revoke`, headers: bearer(admin) });
      const operations = () => t.app.db.prisma.operation.count({ where: { patchId: 'SUT-11' } });
      for (const agentId of [randomUUID(), gone.id]) {
        expectError(await t.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(admin), payload: { patchId: 'SUT-11', agentId } }), 404, 'not-found');
      }
      assert.equal(await operations(), 0, 'a refused unapply writes no operation');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(admin), payload: { patchId: 'SUT-11', agentId: one.id } });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual({ targets: res.json().targets, operations: await operations() }, { targets: 1, operations: 1 });
      const op = (await t.app.inject({ url: `/api/v1/operations/${res.json().id}`, headers: bearer(admin) })).json();
      assert.deepEqual([op.scope, op.targets.map((x: { agentId: string }) => x.agentId)], [`agent:${one.id}`, [one.id]]);
      assert.ok(!op.targets.some((x: { agentId: string }) => x.agentId === other.id));
    });

    test('a command created elsewhere (another replica) reaches a connected agent through the sweep', async () => {
      const a = await newAgent('swept', 'swept');
      const c = await connect(a.token);
      c.send(hello);
      await c.next('welcome');
      const op = await t.app.services.operations.createUnapply({ creator: { userId: '00000000-0000-4000-8000-000000000000', username: 'x', role: 'admin', via: 'session', permissions: new Set() }, patchId: 'SUT-10', scope: { agentId: a.id } });
      const started = Date.now();
      assert.equal((await c.next('command')).id, op.id);
      assert.ok(Date.now() - started < 8000);
      c.ws.close();
    });

    /** An upgrade the server refuses: its status, Retry-After and error code. */
    const refusal = (token: string) =>
      new Promise<{ status: number; retryAfter: number; code: string }>((res) => {
        const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
        ws.on('error', () => {});
        ws.once('open', () => (ws.close(), res({ status: 101, retryAfter: NaN, code: '' })));
        ws.once('unexpected-response', (_q, r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => res({ status: r.statusCode ?? 0, retryAfter: Number(r.headers['retry-after']), code: JSON.parse(body).error?.code }));
        });
      });
    /** Connects, retrying a shed upgrade every 25 ms for up to 3 s (the server frees a set-up slot a moment after the welcome). */
    const connectOnceFree = async (token: string) => {
      for (const started = Date.now(); ; await sleep(25)) {
        try {
          return await connect(token);
        } catch (err) {
          if (!/upgrade refused: 503/.test(String(err)) || Date.now() - started > 3000) throw err;
        }
      }
    };
    const jittered = (r: { retryAfter: number }) => assert.ok(r.retryAfter >= 2 && r.retryAfter <= 8, `Retry-After ${r.retryAfter} s, expected 2 to 8`);

    test('a full server sheds load: 503 with Retry-After, and the agent gets in once there is room', async () => {
      const a = await newAgent('shed-1');
      const b = await newAgent('shed-2');
      const max = t.app.config.maxAgentSockets;
      (t.app.config as { maxAgentSockets: number }).maxAgentSockets = 1;
      try {
        const first = await connect(a.token);
        const refused = await refusal(b.token);
        assert.equal(refused.status, 503);
        assert.equal(refused.code, 'overloaded');
        jittered(refused);
        first.ws.close();
        await first.closed;
        await sleep(50);
        const second = await connect(b.token);
        second.ws.close();
      } finally {
        (t.app.config as { maxAgentSockets: number }).maxAgentSockets = max;
      }
    });

    test('too many connections being set up at once: the next is shed (503, jittered Retry-After) until one is welcomed; a silent one is let go', async () => {
      const [a, b, c] = [await newAgent('setup-1'), await newAgent('setup-2'), await newAgent('setup-3')];
      const config = t.app.config as { maxAgentConnects: number; agentHelloSeconds: number };
      const saved = { ...config };
      config.maxAgentConnects = 1;
      config.agentHelloSeconds = 1;
      try {
        const first = await connect(a.token); // upgraded, no hello yet: it holds the one slot
        const shed = await Promise.all([refusal(b.token), refusal(b.token), refusal(b.token), refusal(b.token)]);
        for (const r of shed) assert.equal(r.status, 503), assert.equal(r.code, 'overloaded'), jittered(r);
        first.send(hello);
        await first.next('welcome');
        // The slot is freed once the hello's reconcile is done: soon, but not at the welcome.
        const second = await connectOnceFree(b.token);
        second.send(hello);
        await second.next('welcome');
        // A connection that never says hello is closed after AGENT_HELLO_SECONDS, and its slot is free again.
        const silent = await connectOnceFree(c.token);
        assert.equal((await refusal(b.token)).status, 503, 'the silent one holds the slot meanwhile');
        assert.deepEqual(await silent.closed, { code: 4008, reason: 'no hello' });
        const third = await connectOnceFree(c.token);
        third.send(hello);
        await third.next('welcome');
        for (const x of [first, second, third]) x.ws.close();
      } finally {
        Object.assign(config, saved);
      }
    });

    test('an upgrade that waited in the queue longer than AGENT_UPGRADE_QUEUE_SECONDS is shed (503, jittered Retry-After); one sent at once is taken', async () => {
      const a = await newAgent('queued');
      const config = t.app.config as { agentUpgradeQueueSeconds: number };
      const saved = config.agentUpgradeQueueSeconds;
      config.agentUpgradeQueueSeconds = 1;
      /** The upgrade request written on a raw TCP connection `afterMs` after it was accepted: the status line and headers of the answer. */
      const upgradeAfter = async (afterMs: number) => {
        const { hostname, port } = new URL(url);
        const sock = createConnection({ host: hostname, port: Number(port) });
        await once(sock, 'connect');
        await sleep(afterMs);
        sock.write(`GET /api/v1/agents/socket HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${a.token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        let head = '';
        for await (const chunk of sock) if ((head += String(chunk)).includes('\r\n\r\n')) break;
        sock.destroy();
        return head;
      };
      try {
        const late = await upgradeAfter(1_200);
        assert.match(late, /^HTTP\/1\.1 503 /, late);
        const retryAfter = Number(/retry-after: (\d+)/i.exec(late)?.[1]);
        jittered({ retryAfter });
        assert.match(await upgradeAfter(0), /^HTTP\/1\.1 101 /);
      } finally {
        config.agentUpgradeQueueSeconds = saved;
      }
    });

    test('an upgrade refused for its token frees its set-up slot', async () => {
      const a = await newAgent('slot-1');
      const config = t.app.config as { maxAgentConnects: number };
      const saved = config.maxAgentConnects;
      config.maxAgentConnects = 1;
      try {
        for (let i = 0; i < 3; i++) assert.equal((await refusal('garbage')).status, 401);
        const c = await connect(a.token);
        c.send(hello);
        await c.next('welcome');
        c.ws.close();
      } finally {
        config.maxAgentConnects = saved;
      }
    });

    test('enabling a patch for a group pushes the desired state (with the signed envelope) to its agents; disabling takes it out', async () => {
      const env = signDocument('patch', patchDoc({ moduleSha256: 'e'.repeat(64) }), [trust.publisher]);
      const pub = await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: env });
      assert.equal(pub.statusCode, 201, pub.body);
      const patchId = pub.json().id as string;
      const a = await newAgent('desired-1', 'canary');
      const other = await newAgent('desired-2', 'other');
      const c = await connect(a.token);
      const o = await connect(other.token);
      for (const x of [c, o]) (x.send(hello), await x.next('welcome'));
      assert.deepEqual((await c.next('desired')).state.enabled, [], 'on connect: the current (empty) state');
      await o.next('desired');
      const on = await t.app.inject({ method: 'PUT', url: `/api/v1/patches/${patchId}/groups/canary`, headers: bearer(admin) });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().sentNow, 1);
      const d = await c.next('desired');
      assert.deepEqual(d.state, { version: on.json().version, enabled: [patchId] });
      assert.deepEqual(Buffer.from(d.patches[0]!.envelope, 'base64'), Buffer.from(envelopeBytes(env)), 'the envelope byte for byte, for the agent to verify');
      const off = await t.app.inject({ method: 'DELETE', url: `/api/v1/patches/${patchId}/groups/canary`, headers: bearer(admin) });
      assert.deepEqual((await c.next('desired')).state, { version: off.json().version, enabled: [] });
      assert.ok(off.json().version > on.json().version);
      o.send(hello);
      await o.next('welcome');
      assert.deepEqual((await o.next('desired')).state.enabled, [], 'the other group never had it');
      expectError(await t.app.inject({ method: 'PUT', url: '/api/v1/patches/NOPE-1/groups/canary', headers: bearer(admin) }), 404, 'not-found');
      for (const x of [c, o]) x.ws.close();
    });
  });
}
