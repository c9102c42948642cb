/**
 * Edge cases beyond the classic TUF attacks: inputs that slip past a naive implementation
 * (unreadable times, byte-order marks, prototype-named keys, undefined limits, one key under two
 * keyids) and the exact semantics of root rotation and patch binding.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalBytes, sha256Hex } from '../encoding/index.ts';
import { PayloadTypes, SPEC_VERSION, type ManifestDocument } from '../schemas/index.ts';
import { envelopeBytes, signDocument, signPayload } from './envelope.ts';
import { generateKeyPair } from './keys.ts';
import { checkThreshold, parseEnvelope, pinRoot, updateRoot, verifyPublishedPatch, verifyUpdate } from './index.ts';
import { INTERNAL_ERROR } from './refusal.ts';
import type { Result } from './types.ts';
import { manifestBytes, MODULE, newKeys, NOW, patchBytes, patchDoc, pinned, rootBytes, rootDoc } from './fixtures.test-helper.ts';

function refused<T>(r: Result<T>, reason: string) {
  assert.equal(r.ok, false, `expected a refusal (${reason}), got ok`);
  if (!r.ok) {
    assert.equal(r.reason, reason, r.detail);
    assert.ok(!r.detail.includes(INTERNAL_ERROR), `refused only by the exception safety net: ${r.detail}`);
  }
}
function accepted<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(`refused (${r.reason}): ${r.detail}`);
  return r.value;
}
const update = (opts: Partial<Parameters<typeof verifyUpdate>[0]> & Pick<Parameters<typeof verifyUpdate>[0], 'state' | 'manifest'>) =>
  verifyUpdate({ patches: [], mappedModuleSha256: MODULE, now: NOW, ...opts });
const manifestDoc = (over: Partial<ManifestDocument> = {}): ManifestDocument => ({
  type: 'manifest',
  specVersion: SPEC_VERSION,
  module: MODULE,
  version: 1,
  expires: new Date(NOW.getTime() + 86_400_000).toISOString(),
  patches: [],
  ...over,
});

describe('parsing never throws and never guesses', () => {
  test('a spec version that cannot be turned into a string is refused, not thrown', () => {
    const keys = newKeys();
    for (const specVersion of [{ toString: 1 }, { valueOf: {}, toString: {} }, [], null, 1])
      refused(parseEnvelope(envelopeBytes(signDocument('patch', { ...patchDoc(), specVersion }, keys.publisher)), 'patch'), 'unknown-spec-version');
  });

  test('non-bytes and unknown kinds are refused', () => {
    for (const bytes of [null, undefined, 'text', [123, 125], {}]) refused(parseEnvelope(bytes as never, 'patch'), 'malformed');
    refused(parseEnvelope(new Uint8Array([0x7b, 0x7d]), '__proto__' as never), 'malformed');
  });

  test('a byte-order mark before the payload or the envelope is refused', () => {
    const keys = newKeys();
    const payload = canonicalBytes(patchDoc());
    accepted(parseEnvelope(envelopeBytes(signPayload(PayloadTypes.patch, payload, keys.publisher)), 'patch'));
    const bomPayload = new Uint8Array([0xef, 0xbb, 0xbf, ...payload]);
    refused(parseEnvelope(envelopeBytes(signPayload(PayloadTypes.patch, bomPayload, keys.publisher)), 'patch'), 'malformed');
    const env = envelopeBytes(signPayload(PayloadTypes.patch, payload, keys.publisher));
    refused(parseEnvelope(new Uint8Array([0xef, 0xbb, 0xbf, ...env]), 'patch'), 'malformed');
  });

  test('limits given as undefined or NaN do not switch a size cap off', () => {
    const junk = new Uint8Array(2 * 1024 * 1024).fill(0x20);
    for (const patchBytes of [undefined, Number.NaN, -1, Number.POSITIVE_INFINITY]) refused(parseEnvelope(junk, 'patch', { patchBytes }), 'too-large');
    refused(parseEnvelope(new Uint8Array(11).fill(0x20), 'patch', { patchBytes: 10 }), 'too-large');
  });

  test('the verified bytes are our own copy, hashed as returned', () => {
    const keys = newKeys();
    const input = patchBytes(patchDoc(), keys.publisher);
    const framed = new Uint8Array(input.length + 8);
    framed.set(input, 4);
    const view = framed.subarray(4, 4 + input.length);
    const v = accepted(parseEnvelope(view, 'patch'));
    framed.fill(0);
    assert.equal(v.sha256, sha256Hex(v.bytes));
    assert.equal(v.sha256, sha256Hex(input));
    assert.equal(v.bytes.buffer.byteLength, input.length, 'does not retain the larger buffer');
  });
});

describe('time is read fail-closed', () => {
  test('an expiry the schema accepts but Date.parse cannot read is refused, not immortal', () => {
    const keys = newKeys();
    for (const expires of ['2030-12-31T23:59:60Z', '2030-11-25T12:00:00Z[Europe/Paris]']) {
      const bytes = envelopeBytes(signDocument('manifest', manifestDoc({ expires }), keys.online));
      refused(update({ state: pinned(keys), manifest: bytes }), 'malformed');
      refused(pinRoot({ bytes: rootBytes({ ...rootDoc(keys), expires }, keys.root), now: NOW }), 'malformed');
    }
  });

  test('an invalid clock reading counts as expired', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1 }), now: new Date(Number.NaN) }), 'expired');
    refused(pinRoot({ bytes: rootBytes(rootDoc(keys), keys.root), now: new Date('not a date') }), 'expired');
  });

  test('expiry is exclusive: a manifest expiring exactly now is expired', () => {
    const keys = newKeys();
    const bytes = envelopeBytes(signDocument('manifest', manifestDoc({ expires: NOW.toISOString() }), keys.online));
    refused(update({ state: pinned(keys), manifest: bytes }), 'expired');
  });
});

describe('signature counting', () => {
  test('one public key under two keyids counts once', () => {
    const keys = newKeys();
    const k = keys.publisher[0]!;
    const alias = 'ee'.repeat(32);
    const root = rootDoc(keys);
    root.keys[alias] = { keytype: 'ed25519', public: k.publicKey };
    root.roles.publisher = { keyids: [k.keyid, alias], threshold: 2 };
    const env = signDocument('patch', patchDoc(), [k]);
    env.signatures.push({ keyid: alias, sig: env.signatures[0]!.sig });
    refused(checkThreshold({ envelope: env, root, role: 'publisher' }), 'threshold-not-met');
  });

  test('a valid signature after an invalid one by the same key still counts', () => {
    const keys = newKeys();
    const env = signDocument('patch', patchDoc(), keys.publisher);
    const bad = { keyid: keys.publisher[0]!.keyid, sig: `${'A'.repeat(85)}A==` };
    const r = accepted(checkThreshold({ envelope: { ...env, signatures: [bad, ...env.signatures] }, root: rootDoc(keys), role: 'publisher' }));
    assert.deepEqual(r.keyids, [keys.publisher[0]!.keyid]);
  });

  test('malformed signatures count as invalid, never throw', () => {
    const keys = newKeys();
    const env = signDocument('patch', patchDoc(), keys.publisher);
    const keyid = keys.publisher[0]!.keyid;
    for (const sig of ['', '!!', 'AAAA', `${'A'.repeat(86)}==`, `${'/'.repeat(86)}==`, 7, null]) {
      const bad = { keyid, sig } as never;
      refused(checkThreshold({ envelope: { ...env, signatures: [bad] }, root: rootDoc(keys), role: 'publisher' }), 'threshold-not-met');
      accepted(checkThreshold({ envelope: { ...env, signatures: [bad, ...env.signatures, null as never] }, root: rootDoc(keys), role: 'publisher' }));
    }
  });

  test('hand-built envelopes and roots that are not well formed are refused', () => {
    const keys = newKeys();
    const env = signDocument('patch', patchDoc(), keys.publisher);
    const root = rootDoc(keys);
    refused(checkThreshold({ envelope: { ...env, signatures: {} } as never, root, role: 'publisher' }), 'malformed');
    refused(checkThreshold({ envelope: { ...env, payload: 'AQI' }, root, role: 'publisher' }), 'malformed');
    refused(checkThreshold({ envelope: env, root: { ...root, roles: { ...root.roles, publisher: { keyids: [], threshold: 0 } } }, role: 'publisher' }), 'malformed');
    refused(checkThreshold({ envelope: env, root, role: 'toString' as never }), 'malformed');
  });
});

describe('root rotation details', () => {
  test('re-sending the trusted root is a no-op that keeps the stored versions', () => {
    const keys = newKeys();
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 7 }) })).state;
    const same = accepted(updateRoot({ state: s, roots: [s.root.bytes], now: NOW }));
    assert.equal(same.root.sha256, s.root.sha256);
    assert.equal(same.manifests[MODULE]?.version, 7);
  });

  test('an online key rotated away and back within one chain still resets manifest versions', () => {
    const keys = newKeys();
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 2 ** 30 }) })).state;
    const away = { ...keys, online: [generateKeyPair()] };
    const chain = [rootBytes(rootDoc(away, { version: 2 }), keys.root), rootBytes(rootDoc(keys, { version: 3 }), keys.root)];
    const r = accepted(updateRoot({ state: s, roots: chain, now: NOW }));
    assert.deepEqual(r.manifests, {});
    assert.deepEqual(r.releases, s.releases, 'the publisher role did not change');
  });

  test('a threshold change alone counts as a role change', () => {
    const keys = newKeys();
    keys.online.push(generateKeyPair());
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 5 }) })).state;
    const doc = rootDoc(keys, { version: 2 });
    doc.roles.online = { ...doc.roles.online, threshold: 2 };
    assert.deepEqual(accepted(updateRoot({ state: s, roots: [rootBytes(doc, keys.root)], now: NOW })).manifests, {});
  });

  test('a conflicting root in the middle of a chain stops it', () => {
    const keys = newKeys();
    const v2 = rootBytes(rootDoc(keys, { version: 2 }), keys.root);
    const v2b = rootBytes(rootDoc(keys, { version: 2, expiresDays: 50 }), keys.root);
    refused(updateRoot({ state: pinned(keys), roots: [v2, v2b], now: NOW }), 'version-conflict');
    accepted(updateRoot({ state: pinned(keys), roots: [v2, v2], now: NOW }));
  });

  test('a failed rotation inside verifyUpdate persists nothing', () => {
    const keys = newKeys();
    const s = pinned(keys);
    const unsigned = rootBytes(rootDoc(keys, { version: 2 }), [generateKeyPair()]);
    refused(update({ state: s, roots: [unsigned], manifest: manifestBytes({ keys: keys.online, version: 1 }) }), 'threshold-not-met');
    assert.equal(s.root.document.version, 1);
  });
});

describe('verifyUpdate ordering and binding', () => {
  test('size caps come before anything is parsed: an oversized patch beats a junk manifest', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: new Uint8Array([1, 2, 3]), patches: [new Uint8Array(1024 * 1024 + 1)] }), 'too-large');
    refused(update({ state: pinned(keys), roots: [new Uint8Array(64 * 1024 + 1)], manifest: new Uint8Array([1]) }), 'too-large');
  });

  test('patch bytes the manifest names under another id or release are refused', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc(), keys.publisher);
    const entry = { id: 'SUT-1', release: 1, length: p.length, sha256: sha256Hex(p) };
    for (const wrong of [{ id: 'SUT-2' }, { release: 2 }]) {
      const m = manifestBytes({ keys: keys.online, version: 1, entries: [{ ...entry, ...wrong }] });
      refused(update({ state: pinned(keys), manifest: m, patches: [p] }), 'hash-mismatch');
    }
    accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, entries: [entry] }), patches: [p] }));
  });

  test('a length that differs from the manifest is a mismatch even when the hash matches', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc(), keys.publisher);
    const m = manifestBytes({ keys: keys.online, version: 1, entries: [{ id: 'SUT-1', release: 1, length: p.length + 1, sha256: sha256Hex(p) }] });
    refused(update({ state: pinned(keys), manifest: m, patches: [p] }), 'hash-mismatch');
  });

  test('the same patch twice in one update is accepted once', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc(), keys.publisher);
    const out = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [p] }), patches: [p, p] }));
    assert.deepEqual(Object.keys(out.state.releases), [`${MODULE}/SUT-1`]);
  });

  test('releases are tracked per module and patch id', () => {
    const keys = newKeys();
    const a = patchBytes(patchDoc({ id: 'SUT-A', release: 5 }), keys.publisher);
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [a] }), patches: [a] })).state;
    const b = patchBytes(patchDoc({ id: 'SUT-B', release: 1 }), keys.publisher);
    accepted(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 2, patches: [b] }), patches: [b] }));
  });

  test('verifyPublishedPatch refuses what an agent would refuse at parse time', () => {
    const keys = newKeys();
    const root = rootDoc(keys);
    accepted(verifyPublishedPatch({ root, bytes: patchBytes(patchDoc(), keys.publisher) }));
    refused(verifyPublishedPatch({ root, bytes: patchBytes(patchDoc(), keys.publisher), limits: { patchBytes: 100 } }), 'too-large');
    const asManifest = envelopeBytes(signDocument('manifest', manifestDoc(), keys.publisher));
    refused(verifyPublishedPatch({ root, bytes: asManifest }), 'wrong-payload-type');
  });
});
