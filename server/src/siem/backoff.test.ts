import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, parseRetryAfter, sleep } from './backoff.ts';

test('back-off doubles per attempt up to the cap, with half of each step random', () => {
  const p = { baseMs: 100, maxMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 50].map((a) => backoffDelay(p, a, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([1, 2, 3, 4, 5, 50].map((a) => backoffDelay(p, a, () => 1)), [100, 200, 400, 800, 1000, 1000]);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(p, 3);
    assert.ok(d >= 200 && d <= 400, String(d));
  }
});

test('Retry-After: delta-seconds or an HTTP-date; anything else is ignored', () => {
  const now = Date.parse('2026-03-01T10:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Sun, 01 Mar 2026 10:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sun, 01 Mar 2026 09:00:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('-3', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

test('sleep ends early, without throwing, when its signal aborts', async () => {
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 20);
  await sleep(10_000, ac.signal);
  assert.ok(Date.now() - started < 1000);
});
