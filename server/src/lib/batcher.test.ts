import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBatcher } from './batcher.ts';

/** A flush that records its batches and can be held open or made to fail. */
function recorder() {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  const failing = new Set<number>();
  let hold = false;
  return {
    batches,
    failing,
    holdNext: () => (hold = true),
    release: () => release?.(),
    flush: async (items: number[]) => {
      batches.push(items);
      if (hold) {
        hold = false;
        await new Promise<void>((r) => (release = r));
      }
      if (items.some((i) => failing.has(i))) throw new Error(`batch with ${items.join(',')} failed`);
    },
  };
}

test('items added in one turn go into one flush; those arriving during a flush form the next', async () => {
  const r = recorder();
  const b = createBatcher({ flush: r.flush, maxBatch: 100 });
  r.holdNext();
  const first = [1, 2, 3].map((i) => b.add(i));
  await new Promise((res) => setImmediate(res));
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(r.batches, [[1, 2, 3]]); // flushing, held open
  const second = [4, 5].map((i) => b.add(i));
  const third = b.add(6);
  assert.equal(b.queued, 3);
  r.release();
  await Promise.all([...first, ...second, third]);
  assert.deepEqual(r.batches, [[1, 2, 3], [4, 5, 6]]);
  await b.drain();
  assert.equal(b.queued, 0);
});

test('a batch holds at most maxBatch items, in the order they were added', async () => {
  const r = recorder();
  const b = createBatcher({ flush: r.flush, maxBatch: 4 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => b.add(i)));
  assert.deepEqual(r.batches, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
});

test('a failed flush rejects only the callers of that batch; the next batch still runs', async () => {
  const r = recorder();
  const b = createBatcher({ flush: r.flush, maxBatch: 2 });
  r.failing.add(3);
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => b.add(i)));
  assert.deepEqual(r.batches, [[1, 2], [3, 4], [5]]);
  assert.deepEqual(
    results.map((x) => x.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[2] as PromiseRejectedResult).reason), /batch with 3,4 failed/);
});

test('an item added as a caller of the last batch resumes is flushed too', async () => {
  const r = recorder();
  const b = createBatcher({ flush: r.flush, maxBatch: 10 });
  let chained: Promise<void> | undefined;
  await b.add(1).then(() => (chained = b.add(2)));
  await chained;
  assert.deepEqual(r.batches, [[1], [2]]);
});

test('maxBatch must be at least 1', () => {
  assert.throws(() => createBatcher({ flush: async () => {}, maxBatch: 0 }), /maxBatch/);
});

test("every caller of a batch gets that flush's result", async () => {
  let n = 0;
  const b = createBatcher<string, string>({ flush: async (items) => `batch ${++n}: ${items.join('+')}`, maxBatch: 2 });
  assert.deepEqual(await Promise.all(['a', 'b', 'c'].map((x) => b.add(x))), ['batch 1: a+b', 'batch 1: a+b', 'batch 2: c']);
});
