import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '@suture/shared/encoding';
import { addSignatures, generateKeyPair, pinRoot, verifyUpdate } from '@suture/shared/trust';
import {
  bearer,
  buildTestApp,
  createUserAndLogin,
  dbKinds,
  envelopeBytes,
  expectError,
  makeTrust,
  patchDoc,
  rootDoc,
  signDocument,
  type TestApp,
} from '../helper.ts';

const MOD_A = 'a1'.repeat(32);
const MOD_B = 'b2'.repeat(32);

for (const kind of dbKinds()) {
  describe(`publishing, catalog and manifests (${kind})`, () => {
    let t: TestApp;
    let admin: string;
    let operator: string;
    let trust: ReturnType<typeof makeTrust>;

    const publish = (env: unknown, token = operator) =>
      t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(token), payload: env as object });

    before(async () => {
      t = await buildTestApp(kind);
      admin = (await createUserAndLogin(t.app, { username: 'alice', role: 'admin' })).token;
      operator = (await createUserAndLogin(t.app, { username: 'oscar', role: 'operator' })).token;
      trust = makeTrust(t.app.onlineKey);
    });
    after(async () => t?.close());

    test('publishing before a root exists says what to do', async () => {
      const e = expectError(await publish(signDocument('patch', patchDoc({ moduleSha256: MOD_A }), [trust.publisher])), 409, 'no-root');
      assert.match(e.message, /suture root publish/);
    });

    test('root upload: garbage and unsigned roots are refused with the reason, a self-signed root is pinned', async () => {
      const other = generateKeyPair();
      const wrongSigner = signDocument('root', trust.rootDoc, [other]);
      const e = expectError(await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: wrongSigner }), 422, 'root-refused');
      assert.equal(e.reason, 'threshold-not-met');
      const ok = await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(ok.json(), { version: 1, changed: true });
      const again = await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope });
      assert.deepEqual(again.json(), { version: 1, changed: false });
      const got = await t.app.inject({ url: '/api/v1/root', headers: bearer(operator) });
      assert.equal(got.body, Buffer.from(envelopeBytes(trust.rootEnvelope)).toString());
    });

    test('a signed patch is accepted once; re-publishing the same bytes is idempotent', async () => {
      const env = signDocument('patch', patchDoc({ id: 'SUT-A-1', moduleSha256: MOD_A }), [trust.publisher]);
      const res = await publish(env);
      assert.equal(res.statusCode, 201, res.body);
      const p = res.json();
      assert.equal(p.documentSha256, sha256Hex(envelopeBytes(env)));
      assert.equal(p.moduleName, 'libdemo.so');
      assert.equal((await publish(env)).statusCode, 200);
      const bytes = await t.app.inject({ url: '/api/v1/patches/SUT-A-1/envelope', headers: bearer(operator) });
      assert.equal(sha256Hex(bytes.rawPayload), p.documentSha256);
    });

    test('refusals: unknown signer, online key as publisher, tampered payload, wrong payload type, lower release', async () => {
      const stranger = generateKeyPair();
      let e = expectError(await publish(signDocument('patch', patchDoc({ moduleSha256: MOD_A }), [stranger])), 422, 'patch-refused');
      assert.equal(e.reason, 'threshold-not-met');
      const env = signDocument('patch', patchDoc({ moduleSha256: MOD_A }), [trust.publisher]);
      const tampered = { ...env, payload: Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('high', 'low!')).toString('base64') };
      e = expectError(await publish(tampered), 422, 'patch-refused');
      assert.ok(['threshold-not-met', 'malformed'].includes(e.reason!));
      e = expectError(await publish({ ...signDocument('manifest', { hello: 1 }, [trust.publisher]) }), 422, 'patch-refused');
      assert.equal(e.reason, 'wrong-payload-type');
      const v2 = signDocument('patch', patchDoc({ id: 'SUT-A-1', moduleSha256: MOD_A, release: 2 }), [trust.publisher]);
      assert.equal((await publish(v2)).statusCode, 201);
      expectError(await publish(signDocument('patch', patchDoc({ id: 'SUT-A-1', moduleSha256: MOD_A, release: 2, title: 'other' }), [trust.publisher])), 409, 'release-not-newer');
      expectError(await publish(signDocument('patch', patchDoc({ id: 'SUT-A-1', moduleSha256: MOD_B, release: 9 }), [trust.publisher])), 409, 'patch-id-taken');
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(operator), payload: { payloadType: 'x', payload: 'A'.repeat(1_100_000), signatures: [] } }), 413);
    });

    test('the manifest passes the agent verification function, and withdrawal takes the patch out with a higher version', async () => {
      const pinned = pinRoot({ bytes: envelopeBytes(trust.rootEnvelope), now: new Date() });
      assert.ok(pinned.ok);
      const m1 = await t.app.inject({ url: `/api/v1/manifests/${MOD_A}`, headers: bearer(operator) });
      assert.equal(m1.statusCode, 200, m1.body);
      const patchBytes = (await t.app.inject({ url: '/api/v1/patches/SUT-A-1/envelope', headers: bearer(operator) })).rawPayload;
      const r1 = verifyUpdate({ state: pinned.value, manifest: m1.rawPayload, patches: [patchBytes], mappedModuleSha256: MOD_A, now: new Date() });
      assert.ok(r1.ok, r1.ok ? '' : `${r1.reason}: ${r1.detail}`);
      assert.equal(r1.value.patches[0]!.document.release, 2);
      const v1 = r1.value.manifest.document.version;

      // a module the agent does not have mapped is refused
      const wrong = verifyUpdate({ state: pinned.value, manifest: m1.rawPayload, patches: [], mappedModuleSha256: MOD_B, now: new Date() });
      assert.ok(!wrong.ok && wrong.reason === 'wrong-module');

      assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/patches/SUT-A-1/withdraw', headers: bearer(operator) })).statusCode, 200);
      const m2 = await t.app.inject({ url: `/api/v1/manifests/${MOD_A}`, headers: bearer(operator) });
      const r2 = verifyUpdate({ state: r1.value.state, manifest: m2.rawPayload, patches: [], mappedModuleSha256: MOD_A, now: new Date() });
      assert.ok(r2.ok, r2.ok ? '' : r2.detail);
      assert.ok(r2.value.manifest.document.version > v1);
      assert.deepEqual(r2.value.manifest.document.patches, []);
      // the old manifest is now a rollback for this agent
      const replay = verifyUpdate({ state: r2.value.state, manifest: m1.rawPayload, patches: [patchBytes], mappedModuleSha256: MOD_A, now: new Date() });
      assert.ok(!replay.ok && replay.reason === 'rollback');
      const listed = (await t.app.inject({ url: '/api/v1/patches', headers: bearer(operator) })).json();
      assert.ok(!listed.items.some((p: { id: string }) => p.id === 'SUT-A-1'));
      const all = (await t.app.inject({ url: '/api/v1/patches?includeWithdrawn=true', headers: bearer(operator) })).json();
      assert.ok(all.items.find((p: { id: string }) => p.id === 'SUT-A-1').withdrawnAt);
    });

    test('batch lookup returns manifests only for patched modules among hundreds', async () => {
      const published: string[] = [];
      for (let i = 0; i < 3; i++) {
        const sha = sha256Hex(`module-${kind}-${i}`);
        published.push(sha);
        assert.equal((await publish(signDocument('patch', patchDoc({ moduleSha256: sha }), [trust.publisher]))).statusCode, 201);
      }
      const inventory = [...published, ...Array.from({ length: 497 }, (_, i) => sha256Hex(`unpatched-${i}`))];
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/manifests/batch', headers: bearer(operator), payload: { modules: inventory } });
      assert.equal(res.statusCode, 200, res.body);
      const manifests = res.json().manifests as Record<string, string>;
      assert.deepEqual(Object.keys(manifests).sort(), [...published].sort());
      const pinned = pinRoot({ bytes: envelopeBytes(trust.rootEnvelope), now: new Date() });
      assert.ok(pinned.ok);
      for (const sha of published) {
        const r = verifyUpdate({ state: pinned.value, manifest: Buffer.from(manifests[sha]!), patches: [], mappedModuleSha256: sha, now: new Date() });
        assert.ok(r.ok, r.ok ? '' : r.detail);
      }
      const tooMany = Array.from({ length: 2001 }, (_, i) => sha256Hex(`x${i}`));
      expectError(await t.app.inject({ method: 'POST', url: '/api/v1/manifests/batch', headers: bearer(operator), payload: { modules: tooMany } }), 400, 'validation');
    });

    test('module catalog', async () => {
      const res = await t.app.inject({ url: '/api/v1/modules?limit=2', headers: bearer(operator) });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.items.length, 2);
      assert.ok(body.nextCursor);
      const next = (await t.app.inject({ url: `/api/v1/modules?limit=100&after=${body.nextCursor}`, headers: bearer(operator) })).json();
      assert.ok(next.items.every((m: { sha256: string }) => m.sha256 > body.nextCursor));
      const one = await t.app.inject({ url: `/api/v1/modules/${MOD_A}`, headers: bearer(operator) });
      assert.equal(one.json().platform, 'linux');
      assert.equal(one.json().activePatches, 0);
      expectError(await t.app.inject({ url: `/api/v1/modules/${'0'.repeat(64)}`, headers: bearer(operator) }), 404);
    });

    test('root rotation needs both thresholds; a root that drops the online key stops manifests with a clear error', async () => {
      assert.equal((await publish(signDocument('patch', patchDoc({ id: 'SUT-R-1', moduleSha256: MOD_A }), [trust.publisher]))).statusCode, 201);
      await t.app.services.desired.enable({ patchId: 'SUT-R-1', group: 'rot', byUserId: null });
      assert.equal((await t.app.services.desired.forGroup('rot')).manifests.length, 1);
      const newRootKey = generateKeyPair();
      const doc2 = rootDoc({ root: [newRootKey], publisher: [trust.publisher], online: [generateKeyPair()], version: 2 });
      const onlyNew = signDocument('root', doc2, [newRootKey]);
      const e = expectError(await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: onlyNew }), 422, 'root-refused');
      assert.equal(e.reason, 'threshold-not-met');
      const both = addSignatures(onlyNew, [trust.root]);
      assert.equal((await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: both })).statusCode, 200);
      const m = await t.app.inject({ url: `/api/v1/manifests/${MOD_A}`, headers: bearer(operator) });
      expectError(m, 409, 'online-key-not-in-root');
      // Agents still get their desired state (disables and withdrawals must reach them), without
      // manifests they would refuse anyway: each patch is then refused by the agent with the reason.
      const d = await t.app.services.desired.forGroup('rot');
      assert.deepEqual(d.enabled, ['SUT-R-1']);
      assert.deepEqual(d.manifests, []);
    });
  });
}
