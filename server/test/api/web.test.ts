/**
 * The dashboard as the server serves it: HTML under a strict CSP at / and at its own paths,
 * hashed assets from memory, and every other unknown path (above all under /api) still a JSON
 * 404. Plus the one read the dashboard added to the API: which groups have a patch enabled.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARD_CSP, WEB_DIST } from '../../src/plugins/web.plugin.ts';
import { bearer, buildTestApp, createUserAndLogin, dbKinds, expectError, makeTrust, patchDoc, signDocument, type TestApp } from '../helper.ts';

describe(`the dashboard (${dbKinds()[0]})`, () => {
  let t: TestApp;
  let admin: string;
  let auditor: string;
  before(async () => {
    assert.ok(existsSync(join(WEB_DIST, 'index.html')), `the dashboard is not built in ${WEB_DIST}: run pnpm install (or pnpm --filter @suture/web build)`);
    t = await buildTestApp(dbKinds()[0]!);
    admin = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
    auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
  });
  after(async () => t?.close());

  test('/ and the dashboard paths serve the app as HTML with a strict CSP and no inline script or style', async () => {
    for (const url of ['/', '/login', '/agents', '/agents/5d0c7a52-0000-4000-8000-000000000000', '/patches/SUT-1', '/rollouts', '/audit', '/tokens', '/cves/CVE-2026-1']) {
      const res = await t.app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.equal(res.headers['content-security-policy'], DASHBOARD_CSP);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.match(res.body, /<div id="app">/);
      assert.doesNotMatch(res.body, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
      assert.doesNotMatch(res.body, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
    }
    assert.match(DASHBOARD_CSP, /default-src 'none'/);
    assert.match(DASHBOARD_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|\*/);
  });

  test('the assets the page names are served with their types and cached for good; unknown assets are JSON 404s', async () => {
    const html = (await t.app.inject({ url: '/' })).body;
    const js = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/assets\/app-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    assert.ok(js && css, html);
    const script = await t.app.inject({ url: js });
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.match(String(script.headers['cache-control']), /immutable/);
    assert.ok(script.body.length > 1000);
    assert.match(String((await t.app.inject({ url: css })).headers['content-type']), /^text\/css/);
    const missing = await t.app.inject({ url: '/assets/app-NOPE.js' });
    expectError(missing, 404, 'not-found');
    assert.match(String(missing.headers['content-type']), /^application\/json/);
  });

  test('the API is untouched: unknown /api paths and other unknown paths are JSON 404s, API routes still need a token', async () => {
    for (const url of ['/api/v1/nope', '/api', '/api/v1/agents/x/y/z', '/nope', '/agentsx', '/audit/x']) {
      const res = await t.app.inject({ url });
      expectError(res, 404, 'not-found');
      assert.match(String(res.headers['content-type']), /^application\/json/, url);
      assert.equal(res.headers['content-security-policy'], undefined);
    }
    const res = await t.app.inject({ url: '/api/v1/agents' });
    expectError(res, 401);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    expectError(await t.app.inject({ method: 'POST', url: '/' }), 404, 'not-found');
  });

  test('GET /patches/:id/groups lists the groups a patch is enabled for (read permission); 404 for an unknown patch', async () => {
    const trust = makeTrust(t.app.onlineKey);
    assert.equal((await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope })).statusCode, 200);
    const doc = patchDoc();
    const pub = await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: signDocument('patch', doc, [trust.publisher]) });
    assert.equal(pub.statusCode, 201, pub.body);
    const list = async () => (await t.app.inject({ url: `/api/v1/patches/${doc.id}/groups`, headers: bearer(auditor) })).json().items as { group: string; enabledAt: string; activeFrom: string | null }[];
    assert.deepEqual(await list(), []);
    for (const g of ['web', 'canary']) assert.equal((await t.app.inject({ method: 'PUT', url: `/api/v1/patches/${doc.id}/groups/${g}`, headers: bearer(admin) })).statusCode, 200);
    const groups = await list();
    assert.deepEqual(groups.map((g) => [g.group, g.activeFrom]), [['canary', null], ['web', null]]);
    assert.ok(!Number.isNaN(Date.parse(groups[0]!.enabledAt)));
    await t.app.inject({ method: 'DELETE', url: `/api/v1/patches/${doc.id}/groups/web`, headers: bearer(admin) });
    assert.deepEqual((await list()).map((g) => g.group), ['canary']);
    expectError(await t.app.inject({ url: '/api/v1/patches/SUT-NOPE-9/groups', headers: bearer(auditor) }), 404);
    expectError(await t.app.inject({ url: `/api/v1/patches/${doc.id}/groups` }), 401);
  });
});
