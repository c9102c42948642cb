import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeSignature, signatureHeader, verifyWebhookSignature } from './webhook-signature.ts';

const secret = 'whsec_0123456789abcdef0123456789abcdef';
const body = '{"hello":"world"}';
const t = 1_700_000_000;

test('HMAC-SHA256 over "<t>.<body>" matches an independent implementation (openssl dgst -hmac)', () => {
  // printf '%s' '1700000000.{"hello":"world"}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef0123456789abcdef'
  assert.equal(computeSignature({ secret, timestamp: t, body }), 'cecf521c66603e976584d5316ede648db7be82262252531e9cf32f0f3e0d00ce');
  assert.equal(signatureHeader({ secret, timestamp: t, body }), `t=${t},v1=cecf521c66603e976584d5316ede648db7be82262252531e9cf32f0f3e0d00ce`);
  assert.equal(computeSignature({ secret, timestamp: t, body: Buffer.from(body) }), computeSignature({ secret, timestamp: t, body }));
});

test('verification accepts the genuine header and names why it refuses anything else', () => {
  const header = signatureHeader({ secret, timestamp: t, body });
  const v = (over: Partial<Parameters<typeof verifyWebhookSignature>[0]>) => verifyWebhookSignature({ header, body, secrets: secret, nowSeconds: t + 10, ...over });
  assert.deepEqual(v({}), { ok: true, timestamp: t });
  assert.deepEqual(v({ body: '{"hello":"world!"}' }), { ok: false, reason: 'no-matching-signature' });
  assert.deepEqual(v({ secrets: 'whsec_another_secret_of_enough_length__' }), { ok: false, reason: 'no-matching-signature' });
  assert.deepEqual(v({ nowSeconds: t + 301 }), { ok: false, reason: 'timestamp-out-of-tolerance' }, 'a replay after the window');
  assert.deepEqual(v({ nowSeconds: t - 301 }), { ok: false, reason: 'timestamp-out-of-tolerance' });
  assert.deepEqual(v({ nowSeconds: t + 3600, toleranceSeconds: 7200 }), { ok: true, timestamp: t });
  assert.deepEqual(v({ header: undefined }), { ok: false, reason: 'missing-header' });
  assert.deepEqual(v({ header: 'garbage' }), { ok: false, reason: 'malformed-header' });
  assert.deepEqual(v({ header: `v1=${'0'.repeat(64)}` }), { ok: false, reason: 'malformed-header' });
  assert.deepEqual(v({ header: `t=${t}` }), { ok: false, reason: 'malformed-header' });
  assert.deepEqual(v({ header: `t=${t},t=${t},${header.split(',')[1]}` }), { ok: false, reason: 'malformed-header' });
  // the timestamp is inside the MAC: moving it into the window breaks the signature
  assert.deepEqual(v({ header: header.replace(`t=${t}`, `t=${t + 5}`) }), { ok: false, reason: 'no-matching-signature' });
});

test('several v1 entries, unknown schemes and secret rotation', () => {
  const good = computeSignature({ secret, timestamp: t, body });
  const header = `t=${t},v0=abc,v1=${'f'.repeat(64)},v1=${good},v2=zzz`;
  assert.deepEqual(verifyWebhookSignature({ header, body, secrets: secret, nowSeconds: t }), { ok: true, timestamp: t });
  assert.deepEqual(verifyWebhookSignature({ header: [header], body: Buffer.from(body), secrets: ['old-secret-no-longer-used-by-sender', secret], nowSeconds: t }), { ok: true, timestamp: t });
});
