/** SIEM push wired into the server: sinks configured through the API deliver every stored event to real receivers on loopback, on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { bearer, createUserAndLogin, dbKinds, expectError, startTestServer, type TestServer } from '../helper.ts';
import { connectAgent, enrollAgent, helloMessage } from '../agent-client.ts';
import { startWebhookReceiver } from '../../src/siem/webhook-receiver.test-helper.ts';
import { parseCef, parseSyslog, startStreamReceiver } from '../../src/siem/siem.test-helper.ts';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';

for (const kind of dbKinds()) {
  describe(`SIEM sinks (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let auditor: string;
    let wsUrl: string;
    before(async () => {
      t = await startTestServer(kind);
      ({ admin, wsUrl } = t);
      auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
    });
    after(async () => t?.close());

    test('a webhook and a TCP syslog sink get every event (signed; CEF with the agent and patch); the secret never comes back', async () => {
      const hook = await startWebhookReceiver({ secret: SECRET });
      const syslog = await startStreamReceiver();
      try {
        const a = await enrollAgent(t.app, { admin, hostname: 'siem-01', group: 'dmz' });
        const c = await connectAgent(wsUrl, a.token);
        c.send(helloMessage);
        await c.next('welcome');
        const ev = (type: string, pid: number) => ({ id: randomUUID(), at: new Date().toISOString(), type, patchId: 'SUT-SIEM-1', pid, reason: type === 'refused' ? 'already-traced' : undefined });
        c.send({ type: 'events', events: [ev('applied', 1), ev('refused', 2)] });
        await c.next('events-ack');

        const web = await t.app.inject({ method: 'POST', url: '/api/v1/siem/sinks?from=start', headers: bearer(admin), payload: { type: 'webhook', name: 'soc-hook', url: `${hook.url}?k=v`, secret: SECRET, allowPlainHttp: true } });
        assert.equal(web.statusCode, 201, web.body);
        assert.doesNotMatch(web.body, new RegExp(SECRET));
        const tcp = await t.app.inject({ method: 'POST', url: '/api/v1/siem/sinks?from=start', headers: bearer(admin), payload: { type: 'syslog-tcp', name: 'soc-syslog', host: '127.0.0.1', port: syslog.port } });
        assert.equal(tcp.statusCode, 201, tcp.body);
        c.send({ type: 'events', events: [ev('crash', 3)] });
        await c.next('events-ack');

        const got = await hook.waitForEvents(3, 15_000);
        assert.deepEqual(got.map((e) => [e.type, e.hostname, e.group, e.pid]), [['applied', 'renamed-host', 'dmz', 1], ['refused', 'renamed-host', 'dmz', 2], ['crash', 'renamed-host', 'dmz', 3]]);
        assert.ok(hook.requests.every((r) => r.signatureOk), 'every delivery is signed with the secret');
        const lines = (await syslog.waitFor(3, 15_000)).map((m) => parseCef(parseSyslog(m).msg ?? ''));
        assert.deepEqual(lines.map((l) => [l.signatureId, l.name]), [['100', 'Micropatch applied'], ['210', 'Micropatch refused'], ['300', 'Patched process crashed']]);
        const list = await t.app.inject({ method: 'GET', url: '/api/v1/siem/sinks', headers: bearer(admin) });
        assert.doesNotMatch(list.body, new RegExp(`${SECRET}|k=v`));
        const items = list.json().items as { name: string; cursor: string }[];
        assert.equal(items.length, 2);
        expectError(await t.app.inject({ method: 'GET', url: '/api/v1/siem/sinks', headers: bearer(auditor) }), 403);
        expectError(await t.app.inject({ method: 'POST', url: '/api/v1/siem/sinks', headers: bearer(admin), payload: { type: 'webhook', name: 'weak', url: hook.url, secret: 'short', allowPlainHttp: true } }), 400, 'invalid-sink');
        expectError(await t.app.inject({ method: 'POST', url: '/api/v1/siem/sinks', headers: bearer(admin), payload: { type: 'syslog-tcp', name: 'soc-syslog', host: '127.0.0.1', port: 1 } }), 409, 'sink-exists');
        assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/v1/siem/sinks/soc-hook', headers: bearer(admin) })).statusCode, 200);
        assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/v1/siem/sinks/soc-syslog', headers: bearer(admin) })).statusCode, 200);
        c.ws.close();
      } finally {
        await hook.close();
        await syslog.close();
      }
    });
  });
}
