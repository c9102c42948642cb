/** What many agent sockets write at once (group commits) reaches the database exactly once, on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, dbKinds, expectError, startTestServer, type TestServer } from '../helper.ts';
import { connectAgent, helloMessage } from '../agent-client.ts';

const AGENTS = 100;
const EVENTS_PER_AGENT = 10;

async function until(what: string, check: () => Promise<boolean>, ms = 20_000) {
  for (const end = Date.now() + ms; !(await check()); await sleep(50)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

for (const kind of dbKinds()) {
  describe(`agent ingest (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let url: string;
    const agents: { id: string; token: string }[] = [];
    let sockets: Awaited<ReturnType<typeof connectAgent>>[] = [];

    before(async () => {
      t = await startTestServer(kind, { LOGIN_RATE_LIMIT_PER_MINUTE: '10000' }); // enrollment shares the login limit
      ({ admin, wsUrl: url } = t);
    });
    after(async () => {
      for (const s of sockets) s.ws.terminate();
      await t.close();
    });

    test(`${AGENTS} agents enrolling at once with one token spend exactly its ${AGENTS} uses`, async () => {
      const tok = (await t.app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(admin), payload: { name: 'fleet', group: 'web', maxUses: AGENTS, expiresInHours: 1 } })).json();
      const enroll = (i: number) => t.app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: { token: tok.token, hostname: `host-${i}`, os: 'linux', arch: 'x86_64', version: '0.1.0' } });
      const results = await Promise.all(Array.from({ length: AGENTS + 5 }, (_, i) => enroll(i)));
      const ok = results.filter((r) => r.statusCode === 201);
      assert.equal(ok.length, AGENTS);
      for (const r of results.filter((x) => x.statusCode !== 201)) expectError(r, 401, 'unauthorized');
      assert.equal(await t.app.db.prisma.agent.count(), AGENTS); // the refused ones left no agent behind
      const listed = (await t.app.inject({ method: 'GET', url: '/api/v1/enrollment-tokens', headers: bearer(admin) })).json();
      assert.equal(listed.items.find((x: { id: string }) => x.id === tok.id).uses, AGENTS);
      for (const r of ok) {
        const { agent, credential } = r.json();
        const s = await t.app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential } });
        agents.push({ id: agent.id, token: s.json().token });
      }
    });

    test('hellos from every socket at once are all recorded; a full inventory and a delta behind it are applied in order', async () => {
      sockets = await Promise.all(agents.map((a) => connectAgent(url, a.token)));
      const m = (n: string, processes: number) => ({ sha256: n.repeat(64), name: `lib${n}.so`, processes });
      for (const [i, s] of sockets.entries()) {
        s.send({ ...helloMessage, hostname: `renamed-${i}` });
        s.send({ type: 'inventory', full: true, modules: [m('a', 3), m('b', 1)] });
        s.send({ type: 'inventory', full: false, modules: [m('b', 0), m('c', 2)] });
      }
      await Promise.all(sockets.map((s) => s.next('welcome')));
      const rows = await t.app.db.prisma.agent.findMany({ select: { hostname: true, version: true, connectedAt: true, disconnectedAt: true } });
      assert.deepEqual(new Set(rows.map((r) => r.hostname)), new Set(agents.map((_, i) => `renamed-${i}`)));
      assert.ok(rows.every((r) => r.version === '0.2.0' && r.connectedAt && !r.disconnectedAt));
      const expected = [{ sha256: 'a'.repeat(64), name: 'liba.so', processes: 3 }, { sha256: 'c'.repeat(64), name: 'libc.so', processes: 2 }];
      await until('every inventory stored', async () => (await t.app.db.prisma.agentModule.count()) === 2 * AGENTS);
      for (const a of agents) assert.deepEqual(await t.app.services.fleet.modules(a.id), expected);
    });

    test(`${AGENTS * EVENTS_PER_AGENT} events and ${AGENTS} acknowledgements, each sent twice, are stored once; events are acknowledged once stored`, async () => {
      const op = await t.app.inject({ method: 'POST', url: '/api/v1/operations/unapply', headers: bearer(admin), payload: { patchId: 'SUT-1' } });
      assert.equal(op.statusCode, 201, op.body);
      assert.equal(op.json().targets, AGENTS);
      const opId = op.json().id as string;
      await Promise.all(
        sockets.map(async (s) => {
          const cmd = await s.next('command');
          assert.equal(cmd.id, opId);
          const events = Array.from({ length: EVENTS_PER_AGENT }, (_, k) => ({ id: randomUUID(), at: new Date().toISOString(), type: 'unapplied', patchId: 'SUT-1', pid: 100 + k, commandId: cmd.id }));
          // The agent re-sends what it has no acknowledgement for; the second ack must change nothing.
          s.send({ type: 'events', events: events.slice(0, 5) });
          s.send({ type: 'events', events });
          s.send({ type: 'command-ack', commandId: cmd.id, outcome: 'done' });
          s.send({ type: 'events', events: events.slice(5) });
          s.send({ type: 'command-ack', commandId: cmd.id, outcome: 'failed', detail: 'a late second answer' });
          const acked = new Set<string>();
          while (acked.size < events.length) for (const id of (await s.next('events-ack')).ids) acked.add(id);
          assert.deepEqual(acked, new Set(events.map((e) => e.id)));
          // Acknowledged means stored: they are in the log by now.
          const agentId = agents[sockets.indexOf(s)]!.id;
          const stored = await t.app.db.prisma.agentEvent.findMany({ where: { agentId }, orderBy: { seq: 'asc' }, select: { eventId: true } });
          assert.deepEqual(stored.map((e) => e.eventId), events.map((e) => e.id)); // once each, in the order sent
        }),
      );
      assert.equal(await t.app.db.prisma.agentEvent.count(), AGENTS * EVENTS_PER_AGENT);
      await until('every acknowledgement stored', async () => (await t.app.services.operations.progress(opId)).pending === 0);
      const got = await t.app.inject({ method: 'GET', url: `/api/v1/operations/${opId}`, headers: bearer(admin) });
      assert.equal(got.statusCode, 200);
      assert.deepEqual({ ...(got.json() as object), targets: undefined, createdAt: undefined, id: undefined }, { kind: 'unapply', patchId: 'SUT-1', scope: 'fleet', total: AGENTS, acknowledged: AGENTS, pending: 0, failed: 0, targets: undefined, createdAt: undefined, id: undefined });
      for (const target of got.json().targets) {
        assert.equal(target.status, 'acknowledged'); // the first answer, not the second
        assert.equal(target.detail, null);
        assert.ok(target.doneAt);
      }
    });

    test('a report with text PostgreSQL cannot store is refused with an error and stores nothing', async () => {
      const s = sockets[0]!;
      const before = await t.app.db.prisma.agentEvent.count();
      s.send({ type: 'events', events: [{ id: randomUUID(), at: new Date().toISOString(), type: 'refused', patchId: 'SUT-1', pid: 1, reason: 'bad\u0000byte' }] });
      const err = await s.next('error');
      assert.equal(err.code, 'invalid');
      assert.match(err.message, /NUL/);
      assert.equal((await s.closed).code, 4002);
      assert.equal(await t.app.db.prisma.agentEvent.count(), before);
    });

    test('every closed socket is recorded as disconnected', async () => {
      for (const s of sockets.slice(1)) s.ws.close();
      await until('every disconnect stored', async () => (await t.app.db.prisma.agent.count({ where: { disconnectedAt: { not: null } } })) === AGENTS);
    });
  });
}
