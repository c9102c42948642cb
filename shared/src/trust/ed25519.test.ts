import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519Sign, ed25519Verify, tweetnacl } from './ed25519.ts';
import { generateKeyPair } from './keys.ts';

test('OpenSSL and tweetnacl produce identical signatures and accept each other', () => {
  for (let i = 0; i < 5; i++) {
    const k = generateKeyPair();
    const msg = randomBytes(1 + i * 97);
    const a = ed25519Sign(msg, k.secretKey);
    const b = tweetnacl.sign(msg, k.secretKey);
    assert.deepEqual(Buffer.from(a), Buffer.from(b));
    assert.ok(ed25519Verify(msg, b, k.publicKey));
    assert.ok(tweetnacl.verify(msg, a, k.publicKey));
  }
});

test('a flipped bit, a wrong key or a malformed key fails verification without throwing', () => {
  const k = generateKeyPair();
  const msg = new TextEncoder().encode('hello');
  const sig = ed25519Sign(msg, k.secretKey);
  const bad = Uint8Array.from(sig);
  bad[10]! ^= 1;
  assert.equal(ed25519Verify(msg, bad, k.publicKey), false);
  assert.equal(ed25519Verify(msg, sig, generateKeyPair().publicKey), false);
  assert.equal(ed25519Verify(msg, sig, 'zz'), false);
  assert.equal(ed25519Verify(msg, sig.subarray(1), k.publicKey), false);
  assert.equal(ed25519Verify(msg, sig, '00'.repeat(32)), false);
});
