/** Staged rollouts through rings with their brakes, group policies for new patches, on each database; agents speak the real protocol over real sockets. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createUserAndLogin, dbKinds, expectError, patchDoc, signDocument, startTestServer, type TestServer, type Trust } from '../helper.ts';
import { connectAgent, enrollAgent, helloMessage } from '../agent-client.ts';

const MODULE = 'cd'.repeat(32);
const FAST = { stageMinutes: 0.05, minAppliedShare: 1, maxFailures: 0, maxCrashes: 0 }; // 3 s per stage

for (const kind of dbKinds()) {
  describe(`rollouts (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let auditor: string;
    let trust: Trust;
    let wsUrl: string;
    const agents: Record<string, Awaited<ReturnType<typeof connectAgent>> & { id: string }> = {};

    const call = (token: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) => t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
    const publish = async (overrides: Parameters<typeof patchDoc>[0] = {}) => {
      const doc = patchDoc({ moduleSha256: MODULE, ...overrides });
      const res = await call(admin, 'POST', '/api/v1/patches', signDocument('patch', doc, [trust.publisher]));
      assert.equal(res.statusCode, 201, res.body);
      return doc.id;
    };
    const rollout = async (id: string) => (await call(auditor, 'GET', `/api/v1/rollouts/${id}`)).json();
    /** Drives the scheduler until the rollout satisfies `ok` (the background pass runs too). */
    async function until(id: string, ok: (r: any) => boolean, what: string) {
      for (const end = Date.now() + 20_000; ; await sleep(250)) {
        await t.app.scheduler.tick();
        const r = await rollout(id);
        if (ok(r)) return r;
        if (Date.now() > end) assert.fail(`${what}; rollout is ${JSON.stringify(r)}`);
      }
    }
    /** The patches the agent's last desired state enables. */
    async function desiredOf(name: string, want: (enabled: string[]) => boolean) {
      for (;;) {
        const m = await agents[name]!.next('desired');
        if (want(m.state.enabled)) return m.state.enabled;
      }
    }
    const status = (name: string, patchId: string, applied: number) => agents[name]!.send({ type: 'patch-status', patches: [{ patchId, matching: 1, applied, refused: 0, failed: 0 }] });

    before(async () => {
      t = await startTestServer(kind);
      ({ admin, trust, wsUrl } = t);
      auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
      for (const [name, group] of [['c1', 'canary'], ['p1', 'prod'], ['p2', 'prod']] as const) {
        const a = await enrollAgent(t.app, { admin, hostname: name, group });
        const c = await connectAgent(wsUrl, a.token);
        c.send(helloMessage);
        await c.next('welcome');
        c.send({ type: 'inventory', full: true, modules: [{ sha256: MODULE, name: 'libdemo.so', processes: 1 }] });
        agents[name] = { ...c, id: a.id };
      }
    });
    after(async () => {
      for (const a of Object.values(agents)) a.ws.close();
      await t?.close();
    });

    test('refused without rings, for an unknown patch, twice for one patch, or by an auditor', async () => {
      const id = await publish();
      expectError(await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST }), 400, 'no-rings');
      await call(admin, 'PUT', '/api/v1/groups/canary', { ring: 0, autoEnable: null });
      await call(admin, 'PUT', '/api/v1/groups/prod', { ring: 1, autoEnable: null });
      expectError(await call(admin, 'POST', '/api/v1/rollouts', { patchId: 'SUT-NOPE', ...FAST }), 404);
      expectError(await call(auditor, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST }), 403);
      expectError(await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST, minAppliedShare: 2 }), 400);
      const first = await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST, startAt: new Date(Date.now() + 3_600_000).toISOString() });
      assert.equal(first.json().status, 'scheduled');
      expectError(await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST }), 409, 'rollout-in-progress');
      const aborted = await call(admin, 'POST', `/api/v1/rollouts/${first.json().id}/abort`);
      assert.equal(aborted.statusCode, 200, aborted.body);
      assert.deepEqual([aborted.json().rollout.status, aborted.json().operations], ['aborted', []]);
    });

    test('ring by ring: canary first, prod once canary is applied; completed when every stage passed', async () => {
      const id = await publish();
      const res = await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST });
      assert.equal(res.statusCode, 201, res.body);
      const r = res.json();
      assert.deepEqual([r.status, r.stages.map((s: any) => [s.ring, s.groups, s.status])], ['running', [[0, ['canary'], 'running'], [1, ['prod'], 'pending']]]);
      await desiredOf('c1', (e) => e.includes(id));
      status('c1', id, 1);
      const second = await until(r.id, (x) => x.currentStage === 1, 'canary passes');
      assert.deepEqual([second.stages[0].status, second.stages[0].agents, second.stages[0].applied], ['passed', 1, 1]);
      await desiredOf('p1', (e) => e.includes(id));
      await desiredOf('p2', (e) => e.includes(id));
      status('p1', id, 1);
      status('p2', id, 1);
      const done = await until(r.id, (x) => x.status === 'completed', 'the rollout completes');
      assert.deepEqual(done.stages.map((s: any) => [s.status, s.agents, s.applied]), [['passed', 1, 1], ['passed', 2, 2]]);
      assert.notEqual(done.endedAt, null);
    });

    test('a crash halts it at once and says why; resumed, the stage starts over; a stage short of its share halts at the end of its wait', async () => {
      const id = await publish();
      const r = (await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST, stageMinutes: 60 })).json();
      await desiredOf('c1', (e) => e.includes(id));
      agents.c1!.send({ type: 'events', events: [{ id: randomUUID(), at: new Date().toISOString(), type: 'crash', patchId: id, pid: 77, reason: 'signal 11' }] });
      await agents.c1!.next('events-ack');
      const halted = await until(r.id, (x) => x.status === 'halted', 'the crash halts the rollout');
      assert.match(halted.haltReason, /ring 0: 1 crash\(es\) of patched processes \(at most 0 allowed\)/);
      assert.equal(halted.stages[0].status, 'halted');
      const resumed = await call(admin, 'POST', `/api/v1/rollouts/${r.id}/resume`);
      assert.deepEqual([resumed.json().status, resumed.json().haltReason], ['running', null]);
      expectError(await call(admin, 'POST', `/api/v1/rollouts/${r.id}/resume`), 409, 'rollout-state');
      const paused = await call(admin, 'POST', `/api/v1/rollouts/${r.id}/pause`);
      assert.equal(paused.json().status, 'paused');
      await t.app.scheduler.tick();
      assert.equal((await rollout(r.id)).status, 'paused', 'a paused rollout does not move');
      await call(admin, 'POST', `/api/v1/rollouts/${r.id}/abort`);

      const short = await publish();
      const s = (await call(admin, 'POST', '/api/v1/rollouts', { patchId: short, ...FAST })).json();
      await desiredOf('c1', (e) => e.includes(short));
      status('c1', short, 0); // the agent loads the module and has not applied it
      const stuck = await until(s.id, (x) => x.status === 'halted', 'the stage misses its share');
      assert.match(stuck.haltReason, /ring 0: 0 of 1 agent\(s\) that load the module have it applied \(0%, needs 100%\)/);
    });

    test('abort with unapply disables the patch where the rollout reached and takes it out there; all of it audited', async () => {
      const id = await publish();
      const r = (await call(admin, 'POST', '/api/v1/rollouts', { patchId: id, ...FAST, stageMinutes: 60 })).json();
      await desiredOf('c1', (e) => e.includes(id));
      const res = await call(admin, 'POST', `/api/v1/rollouts/${r.id}/abort`, { unapply: true });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json().operations.map((o: any) => o.group), ['canary']);
      const command = await agents.c1!.next('command');
      assert.deepEqual([command.kind, command.patchId, command.id], ['unapply', id, res.json().operations[0].operationId]);
      await desiredOf('c1', (e) => !e.includes(id));
      const audit = (await call(auditor, 'GET', '/api/v1/audit?limit=500')).json().items as { action: string; target: { id: string } }[];
      assert.deepEqual(audit.filter((e) => e.target.id === r.id).map((e) => e.action), ['rollout.create', 'rollout.abort']);
    });

    test('group policies enable new patches by severity, at once or after their delay', async () => {
      await call(admin, 'PUT', '/api/v1/groups/canary', { ring: 0, autoEnable: { minSeverity: 'high', delayMinutes: 0 } });
      await call(admin, 'PUT', '/api/v1/groups/prod', { ring: 1, autoEnable: { minSeverity: 'critical', delayMinutes: 30 } });
      const low = await publish({ severity: 'medium' });
      const critical = await publish({ severity: 'critical' });
      const now = await desiredOf('c1', (e) => e.includes(critical));
      assert.ok(!now.includes(low), 'below the policy\'s severity');
      const later = await t.app.db.prisma.patchEnablement.findUnique({ where: { patchId_groupName: { patchId: critical, groupName: 'prod' } } });
      assert.ok(later?.activeFrom && later.activeFrom.getTime() > Date.now() + 29 * 60_000, 'prod enables it in 30 minutes');
      assert.deepEqual(await t.app.services.desired.activateDue(new Date(Date.now() + 31 * 60_000)), ['prod']);
      assert.deepEqual((await t.app.services.desired.forGroup('prod')).enabled.includes(critical), true);
      await call(admin, 'PUT', '/api/v1/groups/canary', { ring: 0, autoEnable: null });
      await call(admin, 'PUT', '/api/v1/groups/prod', { ring: 1, autoEnable: null });
    });
  });
}
