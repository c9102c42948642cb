import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, buildTestApp, createUserAndLogin, dbKinds, expectError, type TestApp } from '../helper.ts';

describe(`a failure inside the server (${dbKinds()[0]})`, () => {
  let t: TestApp;
  let token: string;
  before(async () => {
    t = await buildTestApp(dbKinds()[0]!);
    token = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
  });
  after(async () => t?.close());

  test('is a 500 in the one error shape that names the request id and leaks nothing of the cause', async () => {
    // A broken schema (someone dropped a table) makes every catalog query fail inside Prisma.
    await t.app.db.prisma.$executeRawUnsafe('DROP TABLE "Module" CASCADE');
    const res = await t.app.inject({ url: '/api/v1/modules', headers: { ...bearer(token), 'x-request-id': 'req-abc-123' } });
    const e = expectError(res, 500, 'internal');
    assert.equal(res.json().error.requestId, 'req-abc-123');
    assert.equal(res.headers['x-request-id'], 'req-abc-123');
    assert.doesNotMatch(res.body, /Module|relation|prisma|does not exist|stack/i);
    assert.match(e.message, /request id/);
  });
});
