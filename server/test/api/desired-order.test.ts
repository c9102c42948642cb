/**
 * Desired state on one socket never goes backwards: a hello's reconcile reads the group's state
 * and may send it after a newer push (a patch enabled or disabled meanwhile) went out on the
 * same socket. The agent enforces the last desired state it received, so that must be the
 * newest. Raced many times over a real socket, on each database. The natural window (the
 * reconcile's read, a few ms) is rarely hit, so in most rounds the reconcile's read answers late,
 * as from a slow database, while the change is made: without the guard in sendDesired every such
 * round ends with the older state.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { signDocument } from '@suture/shared/trust';
import type { ServerMessage } from '@suture/shared/protocol';
import { bearer, dbKinds, patchDoc, startTestServer, type TestServer } from '../helper.ts';
import { connectAgent, enrollAgent, helloMessage } from '../agent-client.ts';

const ITERATIONS = 60;

for (const kind of dbKinds()) {
  describe(`desired state order on one socket (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let wsUrl: string;
    let patchId: string;

    before(async () => {
      // The sweep once an hour: it must not repair what the race got wrong before we look.
      t = await startTestServer(kind, { AGENT_SWEEP_SECONDS: '3600' });
      ({ admin, wsUrl } = t);
      const doc = patchDoc({ moduleSha256: 'cd'.repeat(32) });
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: signDocument('patch', doc, [t.trust.publisher]) });
      assert.equal(res.statusCode, 201, res.body);
      patchId = doc.id;
    });
    after(async () => t?.close());

    test(`a hello's reconcile never overtakes a newer push: after enable/disable racing a hello, the last desired state received is the newest (${ITERATIONS} rounds)`, async () => {
      const agent = await enrollAgent(t.app, { admin, hostname: 'order-01', group: 'order' });
      // The next read of the desired state (the hello's reconcile: it reads right after the
      // welcome, before the change below can be made) answers `lateMs` late.
      const desired = t.app.services.desired;
      const read = desired.forGroup;
      let lateMs: number | undefined;
      desired.forGroup = async (group) => {
        const late = lateMs;
        lateMs = undefined;
        const d = await read(group);
        if (late) await sleep(late);
        return d;
      };
      let enabled = false;
      const stale: string[] = [];
      try {
        for (let i = 0; i < ITERATIONS; i++) {
          const c = await connectAgent(wsUrl, agent.token);
          enabled = !enabled;
          lateMs = [0, 20, 40][i % 3];
          c.send(helloMessage);
          await c.next('welcome');
          await sleep(i % 2); // a different overlap each round
          const res: { statusCode: number; body: string; json(): { version: number } } = await t.app.inject({ method: enabled ? 'PUT' : 'DELETE', url: `/api/v1/patches/${patchId}/groups/order`, headers: bearer(admin) });
          assert.equal(res.statusCode, 200, res.body);
          const version = res.json().version as number; // its push has gone out when the response is sent
          // Messages are handled in order: the token answers only after the hello's reconcile is done.
          c.send({ type: 'renew-token' });
          await c.next('token');
          const last = c.received.filter((m): m is Extract<ServerMessage, { type: 'desired' }> => m.type === 'desired').at(-1);
          assert.ok(last, `round ${i}: a desired state was received`);
          if (last.state.version !== version || last.state.enabled.includes(patchId) !== enabled)
            stale.push(`round ${i}: last received version ${last.state.version} enabled [${last.state.enabled.join(',')}], newest is ${version} with the patch ${enabled ? 'enabled' : 'disabled'}`);
          c.ws.close();
          await c.closed;
        }
      } finally {
        desired.forGroup = read;
      }
      assert.deepEqual(stale, [], 'the agent was left with an older desired state');
    });
  });
}
