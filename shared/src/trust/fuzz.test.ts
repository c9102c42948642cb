/** Property-based fuzzing: no input, however malformed, makes the parsers throw. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseEnvelope } from './document-parse.ts';
import { verifyUpdate } from './agent-verify.ts';
import { pinRoot } from './root-rotation.ts';
import type { RefusalReason } from './types.ts';
import { manifestBytes, MODULE, newKeys, NOW, patchBytes, patchDoc, pinned } from './fixtures.test-helper.ts';

const REASONS = new Set<RefusalReason>([
  'too-large', 'malformed', 'wrong-payload-type', 'unknown-spec-version', 'threshold-not-met', 'expired', 'rollback',
  'version-conflict', 'non-consecutive-root', 'too-many-rotations', 'hash-mismatch', 'not-in-manifest', 'release-rollback',
  'release-conflict', 'wrong-module',
]);

const keys = newKeys();
const state = pinned(keys);
const patch = patchBytes(patchDoc(), keys.publisher);
const manifest = manifestBytes({ keys: keys.online, version: 1, patches: [patch] });
const enc = (s: string) => new TextEncoder().encode(s);

function refusedWithKnownReason(r: { ok: boolean; reason?: string }) {
  if (!r.ok) assert.ok(REASONS.has(r.reason as RefusalReason), `unknown reason ${r.reason}`);
}

test('the valid fixture passes (so the properties below exercise real paths)', () => {
  const r = verifyUpdate({ state, manifest, patches: [patch], mappedModuleSha256: MODULE, now: NOW });
  assert.ok(r.ok);
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom('root', 'patch', 'manifest' as const), (bytes, kind) => {
      const r = parseEnvelope(bytes, kind);
      assert.equal(r.ok, false);
      refusedWithKnownReason(r);
      refusedWithKnownReason(verifyUpdate({ state, manifest: bytes, patches: [bytes], mappedModuleSha256: MODULE, now: NOW }));
      refusedWithKnownReason(pinRoot({ bytes, now: NOW }));
    }),
    { numRuns: 500 },
  );
});

test('random JSON values, as envelopes and as payloads, never throw', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      refusedWithKnownReason(parseEnvelope(enc(JSON.stringify(v)), 'patch'));
      const env = { payloadType: 'application/vnd.suture.patch+json', payload: Buffer.from(JSON.stringify(v)).toString('base64'), signatures: [{ keyid: 'a'.repeat(64), sig: `${'A'.repeat(86)}==` }] };
      refusedWithKnownReason(parseEnvelope(enc(JSON.stringify(env)), 'patch'));
    }),
    { numRuns: 500 },
  );
});

test('mutated valid envelopes (bit flips, truncation, splices) are refused or pass, never throw', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(manifest, patch),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat()),
      (base, flips, cut) => {
        const b = Uint8Array.from(base);
        for (const [i, v] of flips) b[i % b.length] = v;
        const bytes = cut === null ? b : b.subarray(0, cut % b.length);
        const r = verifyUpdate({ state, manifest: base === manifest ? bytes : manifest, patches: [base === patch ? bytes : patch], mappedModuleSha256: MODULE, now: NOW });
        refusedWithKnownReason(r);
      },
    ),
    { numRuns: 1000 },
  );
});

test('structurally mutated documents (dropped fields, wrong types) never throw', () => {
  const env = JSON.parse(Buffer.from(patch).toString());
  const doc = JSON.parse(Buffer.from(env.payload, 'base64').toString());
  const keysOf = Object.keys(doc);
  fc.assert(
    fc.property(fc.constantFrom(...keysOf), fc.jsonValue({ maxDepth: 3 }), fc.boolean(), (k, v, drop) => {
      const m = { ...doc };
      if (drop) delete m[k];
      else m[k] = v;
      const e = { ...env, payload: Buffer.from(JSON.stringify(m)).toString('base64') };
      const r = verifyUpdate({ state, manifest, patches: [enc(JSON.stringify(e))], mappedModuleSha256: MODULE, now: NOW });
      // Changed content breaks the signature; an unchanged "mutation" must still pass.
      assert.equal(r.ok, JSON.stringify(m) === JSON.stringify(doc));
      refusedWithKnownReason(r);
    }),
    { numRuns: 500 },
  );
});
