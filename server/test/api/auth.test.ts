import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '@suture/shared/encoding';
import { bearer, buildTestApp, createUserAndLogin, dbKinds, expectError, type TestApp } from '../helper.ts';

for (const kind of dbKinds()) {
  describe(`auth and roles (${kind})`, () => {
    let t: TestApp;
    let admin: string;
    let operator: string;
    let auditor: string;

    before(async () => {
      t = await buildTestApp(kind, { LOGIN_RATE_LIMIT_PER_MINUTE: '5' });
      admin = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
      operator = (await createUserAndLogin(t.app, { username: 'oscar', role: 'operator' })).token;
      auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
    });
    after(async () => t?.close());

    test('every documented route except the probes, login and agent enrollment/session refuses a caller without credentials', async () => {
      const spec = (await t.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
      // Enrollment and agent sessions are authenticated by the secrets in their bodies (agents.test.ts).
      const open = new Set(['GET /healthz', 'GET /readyz', 'POST /api/v1/auth/login', 'POST /api/v1/agents/enroll', 'POST /api/v1/agents/session']);
      let checked = 0;
      for (const [path, methods] of Object.entries(spec.paths)) {
        for (const method of Object.keys(methods)) {
          const key = `${method.toUpperCase()} ${path}`;
          if (open.has(key)) continue;
          const url = path.replace('{sha256}', 'a'.repeat(64)).replace('{id}', '00000000-0000-4000-8000-000000000000').replace('{version}', '1');
          const res = await t.app.inject({ method: method.toUpperCase() as 'GET', url, payload: method === 'get' ? undefined : {} });
          expectError(res, 401, 'unauthorized');
          checked++;
        }
      }
      assert.ok(checked >= 15, `only ${checked} routes checked`);
    });

    test('login returns a short-lived session; wrong password is 401 with the one error shape', async () => {
      const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: 'nope-nope-nope' } });
      const e = expectError(bad, 401, 'unauthorized');
      assert.doesNotMatch(e.message, /nope/);
      const me = await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(admin) });
      assert.equal(me.statusCode, 200);
      assert.deepEqual(me.json().permissions.sort(), ['admin', 'publish', 'read']);
      const forged = await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(admin.slice(0, -2) + 'xx') });
      expectError(forged, 401);
    });

    test('login is rate limited per account with 429 and Retry-After', async () => {
      let last;
      for (let i = 0; i < 7; i++) {
        last = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'victim', password: `guess-${i}-xxxx` } });
      }
      assert.equal(last!.statusCode, 429);
      assert.ok(last!.headers['retry-after']);
      expectError(last!, 429);
    });

    test('roles: auditors read only, operators publish but do not administer', async () => {
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(auditor), payload: { payloadType: 'x', payload: '', signatures: [{ keyid: 'a'.repeat(64), sig: 'A'.repeat(86) + '==' }] } }), 403, 'forbidden');
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(operator), payload: { username: 'x', password: 'y'.repeat(20), role: 'admin' } }), 403);
      expectError(await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(operator), payload: {} }), 403);
      assert.equal((await t.app.inject({ url: '/api/v1/patches', headers: bearer(auditor) })).statusCode, 200);
      const created = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin), payload: { username: 'newbie', password: 'p'.repeat(14), role: 'auditor' } });
      assert.equal(created.statusCode, 201);
      assert.equal(created.json().role, 'auditor');
      assert.equal(created.json().passwordHash, undefined);
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin), payload: { username: 'weak', password: 'short', role: 'auditor' } }), 400, 'weak-password');
    });

    test('input is schema-validated: unknown fields and bad shapes are 400', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin), payload: { username: 'x y', password: 'p'.repeat(14), role: 'root' } });
      expectError(res, 400, 'validation');
      const batch = await t.app.inject({ method: 'POST', url: '/api/v1/manifests/batch', headers: bearer(admin), payload: { modules: ['not-a-hash'] } });
      expectError(batch, 400, 'validation');
    });

    test('API tokens: shown once, stored hashed, scoped, revocable', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(operator), payload: { name: 'siem', scopes: ['read'] } });
      assert.equal(res.statusCode, 201);
      const { token, id } = res.json();
      assert.match(token, /^sut_/);
      const row = await t.app.db.prisma.apiToken.findUnique({ where: { id } });
      assert.equal(row!.tokenHash, sha256Hex(token));
      assert.ok(!JSON.stringify(row).includes(token));
      assert.equal((await t.app.inject({ url: '/api/v1/patches', headers: bearer(token) })).statusCode, 200);
      // read-only scope cannot publish even though its owner could
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/patches/x/withdraw', headers: bearer(token) }), 403);
      // an operator cannot mint an admin token
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(operator), payload: { name: 'x', scopes: ['admin'] } }), 403);
      // a read token cannot mint a publish token
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(token), payload: { name: 'x', scopes: ['publish'] } }), 403);
      const metrics = await t.app.inject({ url: '/metrics', headers: bearer(token) });
      assert.equal(metrics.statusCode, 200);
      assert.match(metrics.body, /suture_http_request_duration_seconds_bucket/);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: bearer(operator) })).statusCode, 200);
      expectError(await t.app.inject({ url: '/api/v1/patches', headers: bearer(token) }), 401);
    });

    test('disabling a user stops their session and tokens at once', async () => {
      const { token } = await createUserAndLogin(t.app, { username: 'leaver', role: 'operator' });
      const tok = (await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(token), payload: { name: 'ci', scopes: ['publish'] } })).json().token;
      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) })).json();
      assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/users/${me.userId}/disable`, headers: bearer(admin) })).statusCode, 200);
      expectError(await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) }), 401);
      expectError(await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(tok) }), 401);
    });

    test('probes and docs', async () => {
      assert.deepEqual((await t.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      const ready = await t.app.inject({ url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json().database, kind);
      const spec = (await t.app.inject({ url: '/docs/json' })).json();
      assert.ok(spec.paths['/api/v1/manifests/batch']);
      assert.ok(spec.paths['/api/v1/patches'].post.responses['422']);
      const nf = await t.app.inject({ url: '/nope', headers: bearer(admin) });
      expectError(nf, 404, 'not-found');
      assert.ok(nf.headers['x-request-id']);
    });
  });
}
