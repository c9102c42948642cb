/** Agent state the server keeps from the socket (online/offline, patch status, modules) and following an operation live, over real sockets on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, readSse, createUserAndLogin, dbKinds, expectError, startTestServer, type TestServer } from '../helper.ts';
import { connectAgent, enrollAgent, helloMessage } from '../agent-client.ts';

for (const kind of dbKinds()) {
  describe(`agent status and live operations (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let auditor: string;
    let base: string;
    let wsUrl: string;

    before(async () => {
      t = await startTestServer(kind);
      ({ admin, base, wsUrl } = t);
      auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
    });
    after(async () => t?.close());

    const detail = async (id: string, token = auditor) => {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/agents/${id}`, headers: bearer(token) });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const listed = async (query: string) => ((await t.app.inject({ method: 'GET', url: `/api/v1/agents?${query}`, headers: bearer(auditor) })).json().items as { id: string }[]).map((a) => a.id);

    test('patch status and inventory reported over the socket are what GET /agents/:id shows; each report replaces the last', async () => {
      const a = await enrollAgent(t.app, { admin, hostname: 'status-01' });
      const c = await connectAgent(wsUrl, a.token);
      c.send(helloMessage);
      await c.next('welcome');
      c.send({ type: 'inventory', full: true, modules: [{ sha256: 'a'.repeat(64), name: 'libflaw.so', processes: 3 }] });
      c.send({ type: 'patch-status', patches: [{ patchId: 'SUT-1', matching: 3, applied: 2, refused: 1, failed: 0 }, { patchId: 'SUT-2', matching: 1, applied: 0, refused: 0, failed: 1, stopped: 'process 9 died of signal 11 soon after the patch was applied' }] });
      c.send({ type: 'patch-status', patches: [{ patchId: 'SUT-1', matching: 3, applied: 3, refused: 0, failed: 0 }] });
      c.send(helloMessage); // handled in order: once this welcome arrives, both reports are stored
      await c.next('welcome');
      const d = await detail(a.id);
      assert.equal(d.agent.online, true);
      assert.deepEqual(d.modules, [{ sha256: 'a'.repeat(64), name: 'libflaw.so', processes: 3 }]);
      assert.deepEqual(d.patches.map(({ updatedAt, ...p }: { updatedAt: string }) => p), [{ patchId: 'SUT-1', matching: 3, applied: 3, refused: 0, failed: 0, stopped: null }]);
      c.send({ type: 'patch-status', patches: [{ patchId: 'SUT-1', matching: 3, applied: 3, refused: 0, failed: 0, extra: 1 }] });
      assert.equal((await c.next('error')).code, 'invalid', 'a malformed report is refused');
      assert.equal((await detail(a.id)).patches[0].applied, 3, 'and changes nothing');
      expectError(await t.app.inject({ method: 'GET', url: `/api/v1/agents/${randomUUID()}`, headers: bearer(auditor) }), 404);
      expectError(await t.app.inject({ method: 'GET', url: `/api/v1/agents/${a.id}` }), 401);
    });

    test('patch status: a report the same as the last changes nothing (updatedAt stays); a changed one moves it; a patch listed twice counts as its last entry; reports of many agents at once each land', async () => {
      const a = await enrollAgent(t.app, { admin, hostname: 'status-05' });
      const c = await connectAgent(wsUrl, a.token);
      const settled = async () => (c.send(helloMessage), await c.next('welcome')); // a hello is handled after what came before it is stored
      c.send(helloMessage);
      await c.next('welcome');
      const one = { patchId: 'SUT-5', matching: 2, applied: 2, refused: 0, failed: 0 };
      c.send({ type: 'patch-status', patches: [one, { patchId: 'SUT-6', matching: 1, applied: 1, refused: 0, failed: 0 }] });
      await settled();
      const first = (await detail(a.id)).patches as { patchId: string; updatedAt: string; applied: number; stopped: string | null }[];
      assert.deepEqual(first.map((p) => p.patchId), ['SUT-5', 'SUT-6']);
      await sleep(20);
      c.send({ type: 'patch-status', patches: [one, { patchId: 'SUT-6', matching: 1, applied: 0, refused: 0, failed: 0, stopped: 'crashed' }] });
      await settled();
      const second = (await detail(a.id)).patches as typeof first;
      assert.equal(second[0]!.updatedAt, first[0]!.updatedAt, 'an unchanged row keeps its updatedAt');
      assert.ok(second[1]!.updatedAt > first[1]!.updatedAt, 'a changed row gets a new updatedAt');
      assert.equal(second[1]!.stopped, 'crashed');
      c.send({ type: 'patch-status', patches: [{ ...one, applied: 0 }, { ...one, applied: 1 }] });
      await settled();
      assert.deepEqual((await detail(a.id)).patches.map((p: { patchId: string; applied: number }) => [p.patchId, p.applied]), [['SUT-5', 1]], 'the last entry of a patch wins; SUT-6, not listed, is gone');
      c.send({ type: 'patch-status', patches: [] });
      await settled();
      assert.deepEqual((await detail(a.id)).patches, []);

      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => enrollAgent(t.app, { admin, hostname: `status-5-${i}` })));
      const sockets = await Promise.all(many.map(async (m) => {
        const s = await connectAgent(wsUrl, m.token);
        s.send(helloMessage);
        await s.next('welcome');
        return s;
      }));
      sockets.forEach((s, i) => s.send({ type: 'patch-status', patches: [{ patchId: 'SUT-5', matching: 3, applied: i % 4, refused: 0, failed: 0 }] }));
      await Promise.all(sockets.map(async (s) => (s.send(helloMessage), await s.next('welcome'))));
      for (const [i, m] of many.entries()) assert.deepEqual((await detail(m.id)).patches.map((p: { applied: number }) => p.applied), [i % 4], `agent ${i}`);
      for (const s of [c, ...sockets]) s.ws.close();
    });

    test('patch status with a NUL character is refused and changes nothing', async () => {
      const a = await enrollAgent(t.app, { admin, hostname: 'status-06' });
      const c = await connectAgent(wsUrl, a.token);
      c.send(helloMessage);
      await c.next('welcome');
      c.send({ type: 'patch-status', patches: [{ patchId: 'SUT-7', matching: 1, applied: 1, refused: 0, failed: 0 }] });
      c.send(helloMessage);
      await c.next('welcome'); // the first report is stored
      c.send({ type: 'patch-status', patches: [{ patchId: 'SUT-7', matching: 1, applied: 0, refused: 0, failed: 0, stopped: 'bad\u0000byte' }] });
      assert.equal((await c.next('error')).code, 'invalid');
      assert.equal((await c.closed).code, 4002);
      assert.deepEqual((await detail(a.id)).patches.map((p: { applied: number }) => p.applied), [1]);
    });

    test('online while connected, offline once the socket closes; a replaced connection does not make the agent look offline', async () => {
      const a = await enrollAgent(t.app, { admin, hostname: 'status-02', group: 'online-test' });
      assert.equal((await detail(a.id)).agent.online, false, 'never connected');
      const first = await connectAgent(wsUrl, a.token);
      first.send(helloMessage);
      await first.next('welcome');
      assert.deepEqual(await listed('group=online-test&status=online'), [a.id]);
      const second = await connectAgent(wsUrl, a.token);
      assert.equal((await first.closed).code, 4000, 'the newer connection replaces the older');
      second.send(helloMessage);
      await second.next('welcome');
      await sleep(200); // the old socket's close is recorded after the new hello
      assert.equal((await detail(a.id)).agent.online, true);
      second.ws.close();
      await second.closed;
      for (let i = 0; i < 50 && (await detail(a.id)).agent.online; i++) await sleep(100);
      const d = (await detail(a.id)).agent;
      assert.equal(d.online, false);
      assert.notEqual(d.disconnectedAt, null);
      assert.deepEqual(await listed('group=online-test&status=offline'), [a.id]);
      assert.deepEqual(await listed('group=online-test&status=online'), []);
      assert.deepEqual(await listed('group=online-test&os=windows'), []);
    });

    test('an operation can be followed live: progress, then done once every agent acknowledged', async () => {
      const a = await enrollAgent(t.app, { admin, hostname: 'status-03', group: 'follow' });
      const c = await connectAgent(wsUrl, a.token);
      c.send(helloMessage);
      await c.next('welcome');
      const op = await t.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(admin), payload: { patchId: 'SUT-FOLLOW', group: 'follow' } });
      assert.equal(op.statusCode, 201, op.body);
      const id = op.json().id as string;
      const res = await fetch(`${base}/api/v1/operations/${id}/follow`, { headers: bearer(auditor) });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const command = await c.next('command');
      assert.equal(command.id, id);
      const events = readSse(res, (s) => s.at(-1)!.event !== 'progress', 60_000);
      await sleep(300);
      c.send({ type: 'command-ack', commandId: id, outcome: 'done' });
      const seen = await events;
      assert.deepEqual(seen[0], { id: null, event: 'progress', data: { total: 1, acknowledged: 0, pending: 1, failed: 0 } });
      assert.deepEqual(seen.at(-1), { id: null, event: 'done', data: { total: 1, acknowledged: 1, pending: 0, failed: 0 } });
      const missing = await fetch(`${base}/api/v1/operations/${randomUUID()}/follow`, { headers: bearer(auditor) });
      assert.equal(missing.status, 404);
      assert.equal((await fetch(`${base}/api/v1/operations/${id}/follow`)).status, 401);
    });

    test('shutting down ends an open operation stream and does not wait for its connection (on a server of its own)', async () => {
      const own = await startTestServer(kind);
      let closing: Promise<void> | undefined;
      try {
        const boss = own.admin;
        const a = await enrollAgent(own.app, { admin: boss, hostname: 'status-04', group: 'shutdown' }); // never connects: the operation stays pending
        const op = await own.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(boss), payload: { patchId: 'SUT-SHUT', agentId: a.id } });
        assert.equal(op.statusCode, 201, op.body);
        const res = await fetch(`${own.base}/api/v1/operations/${op.json().id}/follow`, { headers: bearer(boss) });
        const reader = res.body!.getReader();
        let text = '';
        while (!text.includes('event: progress')) text += Buffer.from((await reader.read()).value ?? []).toString('utf8');
        closing = own.app.close();
        // Generous: the bug was the keep-alive timeout (72 s) holding close open.
        const closed = await Promise.race([closing.then(() => true), sleep(10_000).then(() => false)]);
        assert.ok(closed, 'app.close() waits on the open stream');
        for (let r = await reader.read(); !r.done; r = await reader.read()); // the stream ends
      } finally {
        await closing; // own.close() would close the app a second time
        await own.close();
      }
    });
  });
}
