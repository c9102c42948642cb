/** Enrollment tokens, agent enrollment, agent sessions and revocation, on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { envelopeBytes } from '@suture/shared/trust';
import { bearer, buildTestApp, createUserAndLogin, dbKinds, expectError, makeTrust, type TestApp } from '../helper.ts';

const enrollBody = (token: string, hostname = 'web-01') => ({ token, hostname, os: 'linux', arch: 'x86_64', version: '0.1.0' });

for (const kind of dbKinds()) {
  describe(`agents (${kind})`, () => {
    let t: TestApp;
    let admin: string;
    let operator: string;
    let trust: ReturnType<typeof makeTrust>;
    const newToken = async (body: Record<string, unknown> = {}) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(admin), payload: { name: 'web', group: 'web', maxUses: 5, expiresInHours: 24, ...body } });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; token: string; uses: number };
    };
    const enroll = (token: string, hostname?: string) => t.app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: enrollBody(token, hostname) });

    before(async () => {
      t = await buildTestApp(kind);
      admin = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
      operator = (await createUserAndLogin(t.app, { username: 'oscar', role: 'operator' })).token;
      trust = makeTrust(t.app.onlineKey);
    });
    after(async () => t?.close());

    test('only admins create enrollment tokens; the secret is shown once and never listed', async () => {
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(operator), payload: { name: 'x', group: 'web', maxUses: 1, expiresInHours: 1 } }), 403, 'forbidden');
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers: bearer(admin), payload: { name: 'x', group: 'bad group!', maxUses: 1, expiresInHours: 1 } }), 400);
      const created = await newToken();
      assert.match(created.token, /^sut_enr_/);
      const list = await t.app.inject({ url: '/api/v1/enrollment-tokens', headers: bearer(admin) });
      assert.ok(list.json().items.some((x: { id: string }) => x.id === created.id));
      assert.ok(!list.body.includes(created.token), 'the secret is not listed');
    });

    test('enrolling needs a published root: the agent would have nothing to trust', async () => {
      const { token } = await newToken();
      const e = expectError(await enroll(token), 409, 'no-root');
      assert.match(e.message, /publish a root/);
    });

    test('an agent enrolls once per use, gets its credential and the root, and is listed in its group', async () => {
      assert.equal((await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope })).statusCode, 200);
      const { token, id } = await newToken({ group: 'db', maxUses: 2 });
      const res = await enroll(token, 'db-01');
      assert.equal(res.statusCode, 201, res.body);
      const out = res.json();
      assert.match(out.credential, /^sut_agt_/);
      assert.equal(out.agent.group, 'db');
      assert.deepEqual(Buffer.from(out.root, 'base64'), Buffer.from(envelopeBytes(trust.rootEnvelope)));
      const agents = (await t.app.inject({ url: '/api/v1/agents?group=db', headers: bearer(operator) })).json();
      assert.deepEqual(agents.items.map((a: { hostname: string }) => a.hostname), ['db-01']);
      const tokens = (await t.app.inject({ url: '/api/v1/enrollment-tokens', headers: bearer(admin) })).json();
      assert.equal(tokens.items.find((x: { id: string }) => x.id === id).uses, 1);
      assert.ok(!JSON.stringify(agents).includes(out.credential), 'the credential is never listed');
    });

    test('the last use of a token goes to exactly one of several agents racing for it', async () => {
      const { token } = await newToken({ maxUses: 3 });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => enroll(token, `race-${i}`)));
      assert.equal(results.filter((r) => r.statusCode === 201).length, 3);
      for (const r of results.filter((x) => x.statusCode !== 201)) expectError(r, 401, 'unauthorized');
    });

    test('a revoked, expired or unknown enrollment token enrolls nothing', async () => {
      const revoked = await newToken();
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/enrollment-tokens/${revoked.id}`, headers: bearer(admin) })).json().revokedAt !== null, true);
      expectError(await enroll(revoked.token), 401);
      const expired = await newToken();
      await t.app.db.prisma.enrollmentToken.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      const e = expectError(await enroll(expired.token), 401);
      assert.match(e.message, /ask an admin for a new one/);
      expectError(await enroll('sut_enr_' + 'x'.repeat(43)), 401);
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: { ...enrollBody(revoked.token), extra: 1 } }), 400);
    });

    test('the credential buys short-lived agent tokens until the agent is revoked', async () => {
      const { token } = await newToken();
      const { agent, credential } = (await enroll(token, 'app-01')).json();
      const s = await t.app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential } });
      assert.equal(s.statusCode, 200, s.body);
      const jwt = s.json().token as string;
      assert.deepEqual(await t.app.services.agents.authenticate(jwt), { agentId: agent.id, group: 'web' });
      assert.equal(await t.app.services.agents.authenticate(admin), null, 'a person\'s session is not an agent token');
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential: credential.slice(0, -2) + 'xx' } }), 401);
      expectError(await t.app.inject({ method: 'POST', url: `/api/v1/agents/${agent.id}/revoke`, headers: bearer(operator) }), 403);
      const revoked = await t.app.inject({ method: 'POST', url: `/api/v1/agents/${agent.id}/revoke`, headers: bearer(admin) });
      assert.notEqual(revoked.json().revokedAt, null);
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/agents/session', payload: { agentId: agent.id, credential } }), 401);
      assert.equal(await t.app.services.agents.authenticate(jwt), null, 'tokens issued before the revocation are refused too');
    });

    test('the agents list pages by cursor', async () => {
      const { token } = await newToken({ maxUses: 5, group: 'paging' });
      for (let i = 0; i < 5; i++) assert.equal((await enroll(token, `p-${i}`)).statusCode, 201);
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const res: { json(): { items: { hostname: string }[]; nextCursor: string | null } } = await t.app.inject({ url: `/api/v1/agents?group=paging&limit=2${after ? `&after=${after}` : ''}`, headers: bearer(operator) });
        const body = res.json();
        seen.push(...body.items.map((a: { hostname: string }) => a.hostname));
        after = body.nextCursor;
      } while (after);
      assert.deepEqual(seen.sort(), ['p-0', 'p-1', 'p-2', 'p-3', 'p-4']);
      expectError(await t.app.inject({ url: '/api/v1/agents?after=not-a-uuid', headers: bearer(operator) }), 400);
    });
  });
}
