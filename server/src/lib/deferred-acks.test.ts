import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatcher } from './batcher.ts';
import { createAckDeferral } from './deferred-acks.ts';

/** A real batcher whose flush can be held open: what the deferral waits for. */
function heldBatcher() {
  let release: (() => void) | undefined;
  const b = createBatcher<number>({ maxBatch: 100, flush: () => new Promise<void>((r) => (release = r)) });
  return { b, release: () => release?.() };
}

test('acks wait while a flush runs, then go out merged per connection and split at maxIds', async () => {
  const { b, release } = heldBatcher();
  const sent: [string, string[]][] = [];
  const acks = createAckDeferral<string>({ idle: () => b.drain(), maxDelayMs: 60_000, maxIds: 2 });
  void b.add(1);
  await sleep(5); // the flush is running now
  acks.add('a', ['1', '2'], (ids) => sent.push(['old a', ids]));
  acks.add('b', ['3'], (ids) => sent.push(['b', ids]));
  acks.add('a', ['4'], (ids) => sent.push(['a', ids])); // the latest send for a connection is used
  await sleep(20);
  assert.deepEqual([...sent], [], 'nothing goes out while the store is busy');
  assert.equal(acks.waiting, 2);
  release();
  await sleep(5);
  assert.deepEqual([...sent], [['a', ['1', '2']], ['a', ['4']], ['b', ['3']]]);
  assert.equal(acks.waiting, 0);
  acks.add('c', ['5'], (ids) => sent.push(['c', ids])); // idle now: out on the next turn
  await sleep(5);
  assert.deepEqual(sent.slice(3), [['c', ['5']]]);
});

test('a store that stays busy delays acks by maxDelayMs at most', async () => {
  const { b, release } = heldBatcher();
  void b.add(1);
  await sleep(5);
  const sent: string[][] = [];
  const acks = createAckDeferral<string>({ idle: () => b.drain(), maxDelayMs: 50, maxIds: 1000 });
  const started = Date.now();
  acks.add('a', ['1'], (ids) => sent.push(ids));
  while (sent.length === 0) await sleep(5);
  assert.ok(Date.now() - started >= 45, `sent after ${Date.now() - started} ms, before the store was idle or maxDelayMs had passed`);
  assert.deepEqual([...sent], [['1']]);
  release();
});

test('thousands of connections: every one gets its ack, spread over turns of the event loop', async () => {
  const acks = createAckDeferral<number>({ idle: async () => {}, maxDelayMs: 1000, maxIds: 1000 });
  const got = new Set<number>();
  for (let i = 0; i < 3500; i++) acks.add(i, [String(i)], () => got.add(i));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.ok(got.size > 0 && got.size < 3500, `${got.size} sent within the first turns: not all in one`);
  await sleep(20);
  assert.equal(got.size, 3500);
});
