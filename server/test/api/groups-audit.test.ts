/** Groups (rings, policies), the rules that place enrolling agents, and the audit log, on each database. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, buildTestApp, createUserAndLogin, dbKinds, expectError, makeTrust, type TestApp } from '../helper.ts';

for (const kind of dbKinds()) {
  describe(`groups, group rules and the audit log (${kind})`, () => {
    let t: TestApp;
    let admin: string;
    let operator: string;
    let auditor: string;
    before(async () => {
      t = await buildTestApp(kind);
      admin = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
      operator = (await createUserAndLogin(t.app, { username: 'oscar', role: 'operator' })).token;
      auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
      await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: makeTrust(t.app.onlineKey).rootEnvelope });
    });
    after(async () => t?.close());

    const call = (token: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) => t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
    const enroll = async (token: string, body: { hostname: string; os?: string; tags?: string[] }) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/agents/enroll', payload: { token, os: 'linux', arch: 'x86_64', version: '0.1.0', ...body } });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().agent as { group: string; tags: string[] };
    };

    test('groups carry a ring and a policy; only admins change them; the list is in ring order with agent counts', async () => {
      assert.equal((await call(admin, 'PUT', '/api/v1/groups/canary', { ring: 0, autoEnable: { minSeverity: 'high', delayMinutes: 0 } })).statusCode, 200);
      const put = await call(admin, 'PUT', '/api/v1/groups/prod', { ring: 2, autoEnable: null, description: 'production' });
      assert.deepEqual(put.json(), { name: 'prod', description: 'production', ring: 2, autoEnable: null, agents: 0, online: 0 });
      expectError(await call(operator, 'PUT', '/api/v1/groups/prod', { ring: 1, autoEnable: null }), 403);
      expectError(await call(admin, 'PUT', '/api/v1/groups/prod', { ring: -1, autoEnable: null }), 400);
      expectError(await call(admin, 'PUT', '/api/v1/groups/prod', { ring: 1, autoEnable: { minSeverity: 'urgent', delayMinutes: 0 } }), 400);
      const tok = await call(admin, 'POST', '/api/v1/enrollment-tokens', { name: 'c', group: 'canary', maxUses: 2, expiresInHours: 1 });
      await enroll(tok.json().token, { hostname: 'canary-1' });
      const list = (await call(auditor, 'GET', '/api/v1/groups')).json().items as { name: string; ring: number | null; agents: number }[];
      assert.deepEqual(list.filter((g) => ['canary', 'prod'].includes(g.name)).map((g) => [g.name, g.ring, g.agents]), [['canary', 0, 1], ['prod', 2, 0]]);
    });

    test('an enrollment token without a group lets the rules place the agent: first match by priority, else the default group', async () => {
      assert.equal((await call(admin, 'POST', '/api/v1/group-rules', { priority: 10, group: 'web', hostnamePattern: 'web-*' })).statusCode, 201);
      assert.equal((await call(admin, 'POST', '/api/v1/group-rules', { priority: 5, group: 'pci', tag: 'pci' })).statusCode, 201);
      assert.equal((await call(admin, 'POST', '/api/v1/group-rules', { priority: 20, group: 'win', os: 'windows' })).statusCode, 201);
      expectError(await call(admin, 'POST', '/api/v1/group-rules', { priority: 1, group: 'x' }), 400, 'bad-request');
      expectError(await call(operator, 'POST', '/api/v1/group-rules', { priority: 1, group: 'x', tag: 'y' }), 403);
      const tok = (await call(admin, 'POST', '/api/v1/enrollment-tokens', { name: 'rules', maxUses: 10, expiresInHours: 1 })).json();
      assert.equal(tok.group, null);
      assert.equal((await enroll(tok.token, { hostname: 'WEB-07' })).group, 'web', 'hostname globs ignore case');
      assert.equal((await enroll(tok.token, { hostname: 'web-08', tags: ['pci'] })).group, 'pci', 'the lower priority wins');
      assert.equal((await enroll(tok.token, { hostname: 'db-1', os: 'windows' })).group, 'win');
      const other = await enroll(tok.token, { hostname: 'db-2', tags: ['x', 'x'] });
      assert.deepEqual([other.group, other.tags], ['default', ['x']]);
      const rules = (await call(auditor, 'GET', '/api/v1/group-rules')).json().items as { id: string; group: string }[];
      assert.deepEqual(rules.map((r) => r.group), ['pci', 'web', 'win']);
      assert.equal((await call(admin, 'DELETE', `/api/v1/group-rules/${rules[0]!.id}`)).statusCode, 200);
      assert.equal((await enroll(tok.token, { hostname: 'web-09', tags: ['pci'] })).group, 'web');
    });

    test('every change is audited with who, what, before and after; secrets never; auditors read it; the log cannot be changed', async () => {
      await call(admin, 'PUT', '/api/v1/groups/audited', { ring: 1, autoEnable: null });
      await call(admin, 'PUT', '/api/v1/groups/audited', { ring: 3, autoEnable: { minSeverity: 'critical', delayMinutes: 30 } });
      await call(admin, 'POST', '/api/v1/users', { username: 'newbie', password: 'a-secret-password-123', role: 'auditor' });
      expectError(await call(operator, 'PUT', '/api/v1/groups/audited', { ring: 9, autoEnable: null }), 403);
      const res = await call(auditor, 'GET', '/api/v1/audit?limit=500');
      assert.equal(res.statusCode, 200, res.body);
      const items = res.json().items as { seq: string; actor: { name: string; via: string }; action: string; target: { id: string }; before: any; after: any }[];
      const changes = items.filter((e) => e.action === 'group.put' && e.target.id === 'audited');
      assert.equal(changes.length, 2, 'a refused change is not an entry');
      assert.equal(changes[1]!.actor.name, 'alice');
      assert.equal(changes[1]!.before.ring, 1);
      assert.deepEqual([changes[1]!.after.ring, changes[1]!.after.autoMinSeverity, changes[1]!.after.autoDelayMinutes], [3, 'critical', 30]);
      const user = items.find((e) => e.action === 'POST /api/v1/users');
      assert.ok(user, 'a change a route does not describe is recorded by its route');
      assert.equal(user.after.body.password, '[redacted]');
      assert.doesNotMatch(res.body, /a-secret-password-123|sut_enr_/);
      assert.ok(items.every((e, i) => i === 0 || BigInt(e.seq) > BigInt(items[i - 1]!.seq)));
      const page = await call(auditor, 'GET', `/api/v1/audit?limit=1&after=${items[0]!.seq}&action=group.put`);
      assert.equal(page.json().items.length, 1);
      assert.notEqual(page.json().nextCursor, null);
      await assert.rejects(t.app.db.prisma.$executeRawUnsafe('UPDATE "AuditEntry" SET "actorName" = \'mallory\''), /append-only/);
      await assert.rejects(t.app.db.prisma.$executeRawUnsafe('DELETE FROM "AuditEntry"'), /append-only/);
      expectError(await t.app.inject({ method: 'GET', url: '/api/v1/audit' }), 401);
    });
  });
}
