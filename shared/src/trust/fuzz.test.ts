/**
 * Property-based fuzzing: no input, however malformed, makes a check throw, and none reaches the
 * catch-all that turns an exception into a refusal (its detail contains INTERNAL_ERROR), so
 * a bug hidden behind that safety net still fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalBytes, sha256Hex } from '../encoding/index.ts';
import { PayloadTypes, type DocumentKind } from '../schemas/index.ts';
import { envelopeBytes, signPayload } from './envelope.ts';
import { parseEnvelope } from './document-parse.ts';
import { verifyUpdate } from './agent-verify.ts';
import { pinRoot, updateRoot } from './root-rotation.ts';
import { checkThreshold } from './threshold.ts';
import { INTERNAL_ERROR } from './refusal.ts';
import type { KeyPair } from './keys.ts';
import type { RefusalReason, Result } from './types.ts';
import { manifestBytes, MODULE, newKeys, NOW, patchBytes, patchDoc, pinned, rootBytes, rootDoc } from './fixtures.test-helper.ts';

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
const decodeEnvelope = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString()) as Record<string, unknown>;
const payloadOf = (b: Uint8Array) => JSON.parse(Buffer.from(decodeEnvelope(b).payload as string, 'base64').toString()) as Record<string, unknown>;

function knownOutcome(r: Result<unknown>): void {
  if (r.ok) return;
  assert.ok(REASONS.has(r.reason), `unknown reason ${r.reason}`);
  assert.ok(!r.detail.includes(INTERNAL_ERROR), `an exception escaped the checks: ${r.detail}`);
}
const refusedKnown = (r: Result<unknown>) => {
  assert.equal(r.ok, false);
  knownOutcome(r);
};

/** JSON values plus the keys and shapes that trip up naive code (prototype names, toString). */
const trickyKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'specVersion', 'type', 'id', 'length');
const tricky: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom('1', '2', '', 'a'.repeat(64), 'ab'.repeat(32), '2016-12-31T23:59:60Z', 0, -1, 2 ** 31, 1.5),
    fc.constantFrom(...['{"toString":1}', '{"toString":{},"valueOf":{}}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{}}}'].map((s) => JSON.parse(s) as unknown)),
    fc.dictionary(trickyKey, tie('v'), { maxKeys: 3 }),
    fc.array(tie('v'), { maxLength: 3 }),
  ),
})).v;

/** Payload bytes for a mutated document: canonical when it has a canonical form, else as is. */
function payloadBytes(doc: unknown): Uint8Array {
  try {
    return canonicalBytes(doc);
  } catch {
    return enc(JSON.stringify(doc));
  }
}
/**
 * Which field to mutate. specVersion is read before the schema check, so it meets raw values:
 * it gets extra weight.
 */
const fieldOf = (doc: object) =>
  fc.oneof({ arbitrary: fc.constantFrom(...Object.keys(doc), 'extra'), weight: 3 }, { arbitrary: fc.constant('specVersion'), weight: 1 });
const signed = (kind: DocumentKind, doc: unknown, by: KeyPair[]) => envelopeBytes(signPayload(PayloadTypes[kind], payloadBytes(doc), by));

function mutate(doc: Record<string, unknown>, field: string, value: unknown, drop: boolean): Record<string, unknown> {
  const m = { ...doc };
  if (drop) delete m[field];
  else Object.defineProperty(m, field, { value, enumerable: true, writable: true, configurable: true });
  return m;
}

test('the valid fixture passes (so the properties below exercise real paths)', () => {
  const r = verifyUpdate({ state, manifest, patches: [patch], mappedModuleSha256: MODULE, now: NOW });
  assert.ok(r.ok);
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom('root', 'patch', 'manifest' as const), (bytes, kind) => {
      refusedKnown(parseEnvelope(bytes, kind));
      refusedKnown(verifyUpdate({ state, manifest: bytes, patches: [bytes], mappedModuleSha256: MODULE, now: NOW }));
      refusedKnown(verifyUpdate({ state, roots: [bytes], manifest, patches: [patch], mappedModuleSha256: MODULE, now: NOW }));
      refusedKnown(pinRoot({ bytes, now: NOW }));
    }),
    { numRuns: 500 },
  );
});

test('random JSON values, as envelopes and as payloads, never throw', () => {
  fc.assert(
    fc.property(tricky, fc.constantFrom('root', 'patch', 'manifest' as const), (v, kind) => {
      refusedKnown(parseEnvelope(enc(JSON.stringify(v) ?? 'null'), kind));
      // Canonical where possible, so the value gets past the canonical-form check to the rest.
      const env = { payloadType: PayloadTypes[kind], payload: Buffer.from(payloadBytes(v)).toString('base64'), signatures: [{ keyid: 'a'.repeat(64), sig: `${'A'.repeat(86)}==` }] };
      refusedKnown(parseEnvelope(enc(JSON.stringify(env)), kind));
    }),
    { numRuns: 500 },
  );
});

test('mutated valid envelopes (byte flips, truncation) are refused or pass, never throw', () => {
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
        knownOutcome(r);
        // A flip that changed nothing may pass; anything else must not.
        if (r.ok) assert.deepEqual(bytes, base);
      },
    ),
    { numRuns: 1000 },
  );
});

test('envelopes with dropped or retyped fields never throw', () => {
  const env = decodeEnvelope(patch);
  fc.assert(
    fc.property(fc.constantFrom('payloadType', 'payload', 'signatures', 'extra'), tricky, fc.boolean(), (field, v, drop) => {
      const e = mutate(env, field, v, drop);
      const r = parseEnvelope(enc(JSON.stringify(e)), 'patch');
      knownOutcome(r);
      assert.equal(r.ok, JSON.stringify(e) === JSON.stringify(env));
      // checkThreshold takes an Envelope object, which callers may build by hand.
      knownOutcome(checkThreshold({ envelope: e as never, root: state.root.document, role: 'publisher' }));
    }),
    { numRuns: 500 },
  );
});

test('patch documents with dropped or retyped fields never throw, even when re-signed by a publisher', () => {
  const doc = payloadOf(patch);
  fc.assert(
    fc.property(fieldOf(doc), tricky, fc.boolean(), fc.boolean(), (k, v, drop, resign) => {
      const m = mutate(doc, k, v, drop);
      const unchanged = JSON.stringify(m) === JSON.stringify(doc);
      const bytes = resign ? signed('patch', m, keys.publisher) : enc(JSON.stringify({ ...decodeEnvelope(patch), payload: Buffer.from(JSON.stringify(m)).toString('base64') }));
      const man = manifestBytes({ keys: keys.online, version: 1, entries: [{ id: 'SUT-1', release: 1, length: bytes.length, sha256: sha256Hex(bytes) }] });
      const r = verifyUpdate({ state, manifest: man, patches: [bytes], mappedModuleSha256: MODULE, now: NOW });
      knownOutcome(r);
      if (!resign) assert.equal(r.ok, unchanged, 'changed content breaks the signature');
    }),
    { numRuns: 500 },
  );
});

test('manifest documents with dropped or retyped fields never throw, even when re-signed by the online key', () => {
  const doc = payloadOf(manifest);
  fc.assert(
    fc.property(fieldOf(doc), tricky, fc.boolean(), (k, v, drop) => {
      const m = mutate(doc, k, v, drop);
      const r = verifyUpdate({ state, manifest: signed('manifest', m, keys.online), patches: [patch], mappedModuleSha256: MODULE, now: NOW });
      knownOutcome(r);
    }),
    { numRuns: 500 },
  );
});

test('root documents with dropped or retyped fields never throw when pinned or rotated to', () => {
  const doc = rootDoc(keys, { version: 2 }) as unknown as Record<string, unknown>;
  const roles = doc.roles as Record<string, unknown>;
  fc.assert(
    fc.property(fieldOf(doc), fc.constantFrom('root', 'publisher', 'online'), tricky, fc.boolean(), (k, role, v, drop) => {
      const m = k === 'roles' && !drop ? { ...doc, roles: mutate(roles, role, v, false) } : mutate(doc, k, v, drop);
      const bytes = signed('root', m, keys.root);
      knownOutcome(pinRoot({ bytes, now: NOW }));
      knownOutcome(updateRoot({ state, roots: [bytes], now: NOW }));
    }),
    { numRuns: 300 },
  );
});

test('root chains of random length and content never throw', () => {
  const good = rootBytes(rootDoc(keys, { version: 2 }), keys.root);
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant(good), fc.constant(state.root.bytes), fc.uint8Array({ maxLength: 64 })), { maxLength: 40 }), (roots) => {
      knownOutcome(updateRoot({ state, roots, now: NOW }));
    }),
    { numRuns: 300 },
  );
});
