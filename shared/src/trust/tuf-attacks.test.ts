/**
 * The attacks The Update Framework defends against, each as a test that fails if the defence
 * is missing. Fixtures use real Ed25519 keys.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PayloadTypes } from '../schemas/index.ts';
import { addSignatures, envelopeBytes, signDocument, signPayload } from './envelope.ts';
import { generateKeyPair } from './keys.ts';
import { pinRoot, updateRoot } from './root-rotation.ts';
import { verifyPublishedPatch, verifyUpdate } from './agent-verify.ts';
import { parseEnvelope } from './document-parse.ts';
import type { Result } from './types.ts';
import { manifestBytes, MODULE, newKeys, NOW, OTHER_MODULE, patchBytes, patchDoc, pinned, rootBytes, rootDoc } from './fixtures.test-helper.ts';

function refused<T>(r: Result<T>, reason: string) {
  assert.equal(r.ok, false, `expected a refusal (${reason}), got ok`);
  if (!r.ok) assert.equal(r.reason, reason, r.detail);
}
function accepted<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(`refused (${r.reason}): ${r.detail}`);
  return r.value;
}
const update = (opts: Partial<Parameters<typeof verifyUpdate>[0]> & Pick<Parameters<typeof verifyUpdate>[0], 'state' | 'manifest'>) =>
  verifyUpdate({ patches: [], mappedModuleSha256: MODULE, now: NOW, ...opts });

describe('rollback attack', () => {
  test('an older manifest version is refused after a newer one was accepted', () => {
    const keys = newKeys();
    const s1 = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 5 }) })).state;
    refused(update({ state: s1, manifest: manifestBytes({ keys: keys.online, version: 4 }) }), 'rollback');
    accepted(update({ state: s1, manifest: manifestBytes({ keys: keys.online, version: 6 }) }));
  });
});

describe('freeze attack', () => {
  test('an expired manifest is refused', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, expiresDays: -1 }) }), 'expired');
  });
  test('an expired stored manifest still blocks rollback', () => {
    const keys = newKeys();
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 9, expiresDays: 1 }) })).state;
    const later = new Date(NOW.getTime() + 3 * 86_400_000); // the stored v9 has expired by now
    const old = manifestBytes({ keys: keys.online, version: 8, expiresDays: 30 });
    refused(verifyUpdate({ state: s, manifest: old, patches: [], mappedModuleSha256: MODULE, now: later }), 'rollback');
  });
  test('an expired trusted root without a rotation is refused', () => {
    const keys = newKeys();
    const s = pinned(keys);
    const far = new Date(NOW.getTime() + 400 * 86_400_000);
    refused(verifyUpdate({ state: s, manifest: manifestBytes({ keys: keys.online, version: 1, expiresDays: 500 }), patches: [], mappedModuleSha256: MODULE, now: far }), 'expired');
  });
});

describe('same version, different bytes', () => {
  test('a manifest with the accepted version but other content is refused; the same bytes pass', () => {
    const keys = newKeys();
    const m = manifestBytes({ keys: keys.online, version: 3 });
    const s = accepted(update({ state: pinned(keys), manifest: m })).state;
    accepted(update({ state: s, manifest: m }));
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 3, expiresDays: 2 }) }), 'version-conflict');
  });
  test('a root with the trusted version but other content is refused', () => {
    const keys = newKeys();
    const other = rootBytes(rootDoc(keys, { expiresDays: 100 }), keys.root);
    refused(updateRoot({ state: pinned(keys), roots: [other], now: NOW }), 'version-conflict');
  });
});

describe('fast-forward recovery after a key rotation', () => {
  test('rotating the online key in a new root resets the stored manifest version', () => {
    const keys = newKeys();
    // A compromised online key pushed a huge version.
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 2 ** 30 }) })).state;
    const rotated = { ...keys, online: [generateKeyPair()] };
    const r2 = rootBytes(rootDoc(rotated, { version: 2 }), keys.root);
    const fresh = manifestBytes({ keys: rotated.online, version: 1 });
    accepted(update({ state: s, roots: [r2], manifest: fresh }));
    // Without the rotation, version 1 is a rollback.
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 1 }) }), 'rollback');
  });
  test('rotating a publisher key in a new root resets the stored release counters', () => {
    const keys = newKeys();
    const huge = patchBytes(patchDoc({ release: 2 ** 31 - 1 }), keys.publisher);
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [huge] }), patches: [huge] })).state;
    const rotated = { ...keys, publisher: [generateKeyPair()] };
    const r2 = rootBytes(rootDoc(rotated, { version: 2 }), keys.root);
    const fresh = patchBytes(patchDoc({ release: 1 }), rotated.publisher);
    const m = manifestBytes({ keys: keys.online, version: 2, patches: [fresh] });
    const after = accepted(update({ state: s, roots: [r2], manifest: m, patches: [fresh] })).state;
    assert.equal(after.releases[`${MODULE}/SUT-1`]?.release, 1);
    assert.equal(after.manifests[MODULE]?.version, 2, 'the online role did not change, so manifest versions are kept');
    // Without the rotation, release 1 is a rollback.
    const old = patchBytes(patchDoc({ release: 1 }), keys.publisher);
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 2, patches: [old] }), patches: [old] }), 'release-rollback');
  });
  test('the old online key no longer verifies after its rotation', () => {
    const keys = newKeys();
    const rotated = { ...keys, online: [generateKeyPair()] };
    const r2 = rootBytes(rootDoc(rotated, { version: 2 }), keys.root);
    refused(update({ state: pinned(keys), roots: [r2], manifest: manifestBytes({ keys: keys.online, version: 1 }) }), 'threshold-not-met');
  });
});

describe('root rotation N -> N+1 needs both thresholds', () => {
  const keys = newKeys(2);
  const next = { ...keys, root: [generateKeyPair(), generateKeyPair()] };
  const doc2 = rootDoc(next, { version: 2 });
  test('signed by both the old and the new root keys: accepted', () => {
    const s = accepted(updateRoot({ state: pinned(keys), roots: [rootBytes(doc2, [...keys.root, ...next.root])], now: NOW }));
    assert.equal(s.root.document.version, 2);
  });
  test('missing the old threshold (one of two old keys): refused', () => {
    refused(updateRoot({ state: pinned(keys), roots: [rootBytes(doc2, [keys.root[0]!, ...next.root])], now: NOW }), 'threshold-not-met');
  });
  test('missing the new threshold: refused', () => {
    refused(updateRoot({ state: pinned(keys), roots: [rootBytes(doc2, [...keys.root, next.root[0]!])], now: NOW }), 'threshold-not-met');
  });
  test('an intermediate root may have expired, the last may not', () => {
    const d2 = rootDoc(next, { version: 2, expiresDays: -10 });
    const d3 = rootDoc(next, { version: 3 });
    const chain = [rootBytes(d2, [...keys.root, ...next.root]), rootBytes(d3, next.root)];
    accepted(updateRoot({ state: pinned(keys), roots: chain, now: NOW }));
    refused(updateRoot({ state: pinned(keys), roots: chain.slice(0, 1), now: NOW }), 'expired');
  });
});

describe('non-consecutive root versions', () => {
  test('N -> N+2 is refused; older is a rollback', () => {
    const keys = newKeys();
    refused(updateRoot({ state: pinned(keys), roots: [rootBytes(rootDoc(keys, { version: 3 }), keys.root)], now: NOW }), 'non-consecutive-root');
    const s2 = accepted(updateRoot({ state: pinned(keys), roots: [rootBytes(rootDoc(keys, { version: 2 }), keys.root)], now: NOW }));
    refused(updateRoot({ state: s2, roots: [rootBytes(rootDoc(keys, { version: 1 }), keys.root)], now: NOW }), 'rollback');
  });
});

describe('maximum rotations', () => {
  test('more rotations than the limit in one update are refused before any is parsed', () => {
    const keys = newKeys();
    const chain = Array.from({ length: 4 }, (_, i) => rootBytes(rootDoc(keys, { version: i + 2 }), keys.root));
    accepted(updateRoot({ state: pinned(keys), roots: chain, now: NOW, limits: { maxRootRotations: 4 } }));
    refused(updateRoot({ state: pinned(keys), roots: chain, now: NOW, limits: { maxRootRotations: 3 } }), 'too-many-rotations');
    // Not even parsed: a chain of junk gets the same answer, where one junk root alone is malformed.
    const junk = Array.from({ length: 33 }, () => new Uint8Array([0x7b]));
    refused(updateRoot({ state: pinned(keys), roots: junk, now: NOW }), 'too-many-rotations');
    refused(updateRoot({ state: pinned(keys), roots: junk.slice(0, 1), now: NOW }), 'malformed');
  });
});

describe('duplicate signatures', () => {
  test('the same key signing twice counts once toward a threshold of 2', () => {
    const keys = newKeys();
    keys.publisher.push(generateKeyPair());
    const root = rootDoc(keys, { publisherThreshold: 2 });
    const once = signDocument('patch', patchDoc(), [keys.publisher[0]!]);
    const twice = { ...once, signatures: [once.signatures[0]!, once.signatures[0]!] };
    refused(verifyPublishedPatch({ root, bytes: envelopeBytes(twice) }), 'threshold-not-met');
    accepted(verifyPublishedPatch({ root, bytes: envelopeBytes(addSignatures(once, [keys.publisher[1]!])) }));
  });
});

describe('wrong payload type', () => {
  test('a patch envelope presented as a manifest is refused', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: patchBytes(patchDoc(), keys.online) }), 'wrong-payload-type');
  });
  test('a signature made under another payload type does not verify', () => {
    const keys = newKeys();
    const m = JSON.parse(Buffer.from(manifestBytes({ keys: keys.online, version: 1 })).toString());
    const payload = Buffer.from(m.payload, 'base64');
    const signedAsPatch = signPayload(PayloadTypes.patch, payload, keys.online);
    const relabelled = { ...signedAsPatch, payloadType: PayloadTypes.manifest };
    refused(update({ state: pinned(keys), manifest: envelopeBytes(relabelled) }), 'threshold-not-met');
  });
});

describe('endless data: oversized documents are refused before parsing', () => {
  test('bytes over the cap that are not even JSON get too-large, not malformed', () => {
    const keys = newKeys();
    const junk = new Uint8Array(300 * 1024).fill(0x7b);
    refused(update({ state: pinned(keys), manifest: junk }), 'too-large');
    refused(parseEnvelope(new Uint8Array(2 * 1024 * 1024), 'patch'), 'too-large');
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1 }), patches: [new Uint8Array(1024 * 1024 + 1)] }), 'too-large');
  });
});

describe('mix-and-match', () => {
  test('a manifest naming a patch whose hash differs: hash-mismatch', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc(), keys.publisher);
    const m = manifestBytes({ keys: keys.online, version: 1, entries: [{ id: 'SUT-1', release: 1, length: p.length, sha256: '00'.repeat(32) }] });
    refused(update({ state: pinned(keys), manifest: m, patches: [p] }), 'hash-mismatch');
  });
  test('a patch the manifest does not name: not-in-manifest', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc({ id: 'SUT-OTHER' }), keys.publisher);
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1 }), patches: [p] }), 'not-in-manifest');
  });
});

describe('release counter', () => {
  test('a lower release is refused, the same release with other bytes too', () => {
    const keys = newKeys();
    const p2 = patchBytes(patchDoc({ release: 2 }), keys.publisher);
    const s = accepted(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [p2] }), patches: [p2] })).state;
    const p1 = patchBytes(patchDoc({ release: 1 }), keys.publisher);
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 2, patches: [p1] }), patches: [p1] }), 'release-rollback');
    const p2b = patchBytes(patchDoc({ release: 2, title: 'other' }), keys.publisher);
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 3, patches: [p2b] }), patches: [p2b] }), 'release-conflict');
    const p3 = patchBytes(patchDoc({ release: 3 }), keys.publisher);
    accepted(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 4, patches: [p3] }), patches: [p3] }));
  });
});

describe('unknown spec version', () => {
  test('a v2 document with new fields is refused as unknown-spec-version', () => {
    const keys = newKeys();
    const doc = { ...patchDoc(), specVersion: '2', newField: { x: 1 } };
    const bytes = envelopeBytes(signDocument('patch', doc, keys.publisher));
    refused(verifyPublishedPatch({ root: rootDoc(keys), bytes }), 'unknown-spec-version');
  });
});

describe('wrong module', () => {
  test('a manifest for another module hash is refused', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, module: OTHER_MODULE }) }), 'wrong-module');
  });
  test('a patch for another module hash, even if the manifest names it, is refused', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc({ module: { ...patchDoc().module, sha256: OTHER_MODULE } }), keys.publisher);
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [p] }), patches: [p] }), 'wrong-module');
  });
});

describe('key roles', () => {
  test('a patch signed by the online key instead of a publisher key is refused', () => {
    const keys = newKeys();
    const p = patchBytes(patchDoc(), keys.online);
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.online, version: 1, patches: [p] }), patches: [p] }), 'threshold-not-met');
  });
  test('a manifest signed by a publisher key is refused', () => {
    const keys = newKeys();
    refused(update({ state: pinned(keys), manifest: manifestBytes({ keys: keys.publisher, version: 1 }) }), 'threshold-not-met');
  });
  test('a key the root does not name does not count, even with a valid signature', () => {
    const keys = newKeys();
    refused(verifyPublishedPatch({ root: rootDoc(keys), bytes: patchBytes(patchDoc(), [generateKeyPair()]) }), 'threshold-not-met');
  });
  test('a root not signed by its own keys cannot be pinned', () => {
    const keys = newKeys();
    refused(pinRoot({ bytes: rootBytes(rootDoc(keys), [generateKeyPair()]), now: NOW }), 'threshold-not-met');
  });
});

describe('state handling', () => {
  test('verifyUpdate never mutates the state it is given and persists only on success', () => {
    const keys = newKeys();
    const s = pinned(keys);
    const before = JSON.stringify({ m: s.manifests, r: s.releases });
    const p = patchBytes(patchDoc(), keys.publisher);
    accepted(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 1, patches: [p] }), patches: [p] }));
    refused(update({ state: s, manifest: manifestBytes({ keys: keys.online, version: 2, patches: [p] }), patches: [p, p.slice(1)] }), 'not-in-manifest');
    assert.equal(JSON.stringify({ m: s.manifests, r: s.releases }), before);
  });
  test('a non-canonical payload is refused', () => {
    const keys = newKeys();
    const doc = patchDoc();
    const pretty = new TextEncoder().encode(JSON.stringify(doc, null, 2));
    const env = signPayload(PayloadTypes.patch, pretty, keys.publisher);
    refused(verifyPublishedPatch({ root: rootDoc(keys), bytes: envelopeBytes(env) }), 'malformed');
  });
});

describe('root key hygiene', () => {
  test('a root whose online key is also a publisher key is refused, so a stolen server cannot sign patches', () => {
    const keys = newKeys();
    const doc = rootDoc(keys);
    doc.roles.publisher = { keyids: [...doc.roles.publisher.keyids, keys.online[0]!.keyid], threshold: 1 };
    refused(pinRoot({ bytes: rootBytes(doc, keys.root), now: NOW }), 'malformed');
  });
  test('a keyid that is not the hash of its key, or a role naming an unlisted key, is refused', () => {
    const keys = newKeys();
    const lying = rootDoc(keys);
    const [firstId, firstKey] = Object.entries(lying.keys)[0]!;
    lying.keys = { ...lying.keys, [firstId]: { ...firstKey, public: generateKeyPair().publicKey } };
    refused(pinRoot({ bytes: rootBytes(lying, keys.root), now: NOW }), 'malformed');
    const unlisted = rootDoc(keys);
    unlisted.roles.online = { keyids: [generateKeyPair().keyid], threshold: 1 };
    refused(pinRoot({ bytes: rootBytes(unlisted, keys.root), now: NOW }), 'malformed');
  });
});
