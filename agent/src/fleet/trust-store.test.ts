import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@suture/shared/trust';
import { manifestBytes, newKeys, NOW, OTHER_MODULE, patchBytes, patchDoc, rootBytes, rootDoc } from '../../../shared/src/trust/fixtures.test-helper.ts';
import { createTrustStore } from './trust-store.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'suture-trust-'));
  const keys = newKeys();
  const rootFile = join(dir, 'root.json');
  writeFileSync(rootFile, rootBytes(rootDoc(keys), keys.root));
  return { dir, keys, rootFile, store: createTrustStore({ stateDir: dir, rootFile }) };
}
const ids = (out: { ok: boolean; id: string; reason?: string }[]) => out.map((v) => (v.ok ? v.id : `${v.id}:${v.reason}`));

test('patches pass only with their module\'s online-signed manifest; one refusal leaves the others; what passed is persisted', () => {
  const { dir, keys, store } = setup();
  const a = patchBytes(patchDoc({ id: 'SUT-A' }), keys.publisher);
  const b = patchBytes(patchDoc({ id: 'SUT-B', module: { ...patchDoc().module, sha256: OTHER_MODULE } }), keys.publisher);
  const forged = patchBytes(patchDoc({ id: 'SUT-C' }), [generateKeyPair()]);
  const manifest = manifestBytes({ keys: keys.online, version: 3, patches: [a, forged] });
  const out = store.verify({ patches: [{ id: 'SUT-A', envelope: a }, { id: 'SUT-B', envelope: b }, { id: 'SUT-C', envelope: forged }], manifests: [{ module: 'ab'.repeat(32), envelope: manifest }], roots: [] }, NOW);
  assert.deepEqual(ids(out), ['SUT-A', 'SUT-B:not-in-manifest', 'SUT-C:threshold-not-met']);
  const saved = JSON.parse(readFileSync(join(dir, 'trust.json'), 'utf8'));
  assert.equal(saved.manifests['ab'.repeat(32)].version, 3);
  assert.equal(saved.releases[`${'ab'.repeat(32)}/SUT-A`].release, 1);
  // A manifest signed by a publisher key (not the online key) is refused.
  const wrongSigner = manifestBytes({ keys: keys.publisher, version: 4, patches: [a] });
  assert.deepEqual(ids(store.verify({ patches: [{ id: 'SUT-A', envelope: a }], manifests: [{ module: 'ab'.repeat(32), envelope: wrongSigner }], roots: [] }, NOW)), ['SUT-A:threshold-not-met']);
});

test('an older manifest, an older release, a tampered patch and an expired manifest are refused; nothing of them is kept', () => {
  const { dir, keys, store } = setup();
  const r2 = patchBytes(patchDoc({ id: 'SUT-A', release: 2 }), keys.publisher);
  const r1 = patchBytes(patchDoc({ id: 'SUT-A', release: 1 }), keys.publisher);
  const send = (patch: Uint8Array, manifest: Uint8Array, now = NOW) => ids(store.verify({ patches: [{ id: 'SUT-A', envelope: patch }], manifests: [{ module: 'ab'.repeat(32), envelope: manifest }], roots: [] }, now));
  assert.deepEqual(send(r2, manifestBytes({ keys: keys.online, version: 5, patches: [r2] })), ['SUT-A']);
  const before = readFileSync(join(dir, 'trust.json'), 'utf8');
  assert.deepEqual(send(r2, manifestBytes({ keys: keys.online, version: 4, patches: [r2] })), ['SUT-A:rollback']);
  assert.deepEqual(send(r1, manifestBytes({ keys: keys.online, version: 6, patches: [r1] })), ['SUT-A:release-rollback']);
  const tampered = Buffer.from(r2);
  tampered[tampered.length - 5]! ^= 1;
  assert.deepEqual(send(tampered, manifestBytes({ keys: keys.online, version: 7, patches: [r2] })), ['SUT-A:not-in-manifest']);
  assert.deepEqual(send(r2, manifestBytes({ keys: keys.online, version: 8, patches: [r2] }), new Date(NOW.getTime() + 3 * 86_400_000)), ['SUT-A:expired']);
  assert.equal(readFileSync(join(dir, 'trust.json'), 'utf8'), before, 'refusals persist nothing');
});

test('the root chain moves the pinned root forward, and the new root\'s publisher is trusted from then on', () => {
  const { keys, rootFile, store } = setup();
  const next = { ...keys, root: [generateKeyPair()], publisher: [generateKeyPair()] };
  const v2 = rootBytes(rootDoc(next, { version: 2 }), [...keys.root, ...next.root]);
  const p = patchBytes(patchDoc({ id: 'SUT-N' }), next.publisher);
  const input = { patches: [{ id: 'SUT-N', envelope: p }], manifests: [{ module: 'ab'.repeat(32), envelope: manifestBytes({ keys: keys.online, version: 1, patches: [p] }) }] };
  assert.deepEqual(ids(store.verify({ ...input, roots: [] }, NOW)), ['SUT-N:threshold-not-met'], 'not under the pinned root');
  const v1 = readFileSync(rootFile);
  assert.deepEqual(ids(store.verify({ ...input, roots: [v1, v2] }, NOW)), ['SUT-N'], 'the chain from the pinned version on; v1 itself is skipped');
  assert.deepEqual(readFileSync(rootFile), Buffer.from(v2));
  const mallory = { ...next, root: [generateKeyPair()] };
  const forged = rootBytes(rootDoc(mallory, { version: 3 }), mallory.root); // not signed by v2's root keys
  assert.equal(store.verify({ ...input, roots: [forged] }, NOW)[0]!.ok, false, 'a root the pinned one does not vouch for stops the update');
  assert.deepEqual(readFileSync(rootFile), Buffer.from(v2));
});
