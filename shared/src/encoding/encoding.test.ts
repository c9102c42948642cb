import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanonicalError, canonicalize } from './canonical.ts';
import { fromBase64, fromHex, toBase64 } from './bytes.ts';

test('canonical JSON sorts keys at every level and has no whitespace', () => {
  assert.equal(canonicalize({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(canonicalize({ u: undefined, s: 'é"\n' }), '{"s":"é\\"\\n"}');
});

test('canonical JSON refuses what has no single encoding', () => {
  assert.throws(() => canonicalize(1.5), CanonicalError);
  assert.throws(() => canonicalize(2 ** 60), CanonicalError);
  assert.throws(() => canonicalize(Number.NaN), CanonicalError);
  assert.throws(() => canonicalize(new Date()), CanonicalError);
  assert.throws(() => canonicalize(() => 1), CanonicalError);
  assert.equal(canonicalize(-0), '0');
});

test('base64 and hex decoding are strict', () => {
  assert.deepEqual(fromBase64(toBase64(new Uint8Array([1, 2, 3]))), new Uint8Array([1, 2, 3]));
  assert.throws(() => fromBase64('AQID!'));
  assert.throws(() => fromBase64('AQI'));
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
});
