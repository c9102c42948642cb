import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { toWebhookEvent } from './siem-event.schema.ts';
import { DeliveryError } from './sink.ts';
import { parseSinkConfigs, type WebhookSinkConfig } from './sink.config.ts';
import { createWebhookSink } from './webhook.sink.ts';
import { eventsFrom, sampleEvent } from './siem.test-helper.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.test-helper.ts';

const secret = 'whsec_test_0123456789abcdef0123456789';
const signal = new AbortController().signal;

async function setup(t: import('node:test').TestContext, over: Partial<WebhookSinkConfig> = {}) {
  const rx = await startWebhookReceiver({ secret });
  t.after(() => rx.close());
  const [config] = parseSinkConfigs([{ type: 'webhook', name: 'hook', url: rx.url, secret, allowPlainHttp: true, retryBaseMs: 20, retryMaxMs: 2000, timeoutMs: 2000, ...over }]) as [WebhookSinkConfig];
  const sink = createWebhookSink({ config, productVersion: '0.1.0', logger: pino({ level: 'silent' }) });
  return { rx, sink };
}

const keys = (rx: WebhookReceiver) => rx.requests.map((r) => r.key);

test('webhook: 503, a dropped connection, a lost answer and 429 + Retry-After are retried; the batch is processed once', async (t) => {
  const { rx, sink } = await setup(t);
  rx.plan = [{ status: 503 }, { reset: true }, { reset: true, afterProcessing: true }, { status: 429, headers: { 'retry-after': '1' } }];
  const events = eventsFrom(1, 10);
  await sink.deliver(events, signal);
  assert.equal(rx.requests.length, 5);
  assert.deepEqual(rx.requests.map((r) => r.attempt), ['1', '2', '3', '4', '5']);
  assert.equal(new Set(keys(rx)).size, 1, 'one Idempotency-Key for every retry');
  assert.ok(rx.requests.every((r) => r.signatureOk), 'every attempt is signed (each with its own timestamp)');
  assert.ok(rx.requests.every((r) => r.raw.equals(rx.requests[0]!.raw)), 'the body is byte-identical on every attempt');
  assert.ok(rx.requests[4]!.at - rx.requests[3]!.at >= 950, 'Retry-After: 1 was honoured');
  assert.equal(rx.processed.size, 1, 'the answer lost after processing did not make a second batch');
  const [body] = [...rx.processed.values()];
  assert.deepEqual(body!.events, events.map(toWebhookEvent));
  assert.equal(body!.sink, 'hook');
  assert.equal(body!.schema, 'suture.siem.events/v1');
});

test('webhook: any other 4xx is final: one request, a permanent DeliveryError', async (t) => {
  const { rx, sink } = await setup(t);
  for (const status of [400, 401, 404, 413]) {
    rx.requests.length = 0;
    rx.plan = [{ status }];
    const err = await sink.deliver(eventsFrom(1, 1), signal).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof DeliveryError && err.permanent && err.status === status, `${status}: ${String(err)}`);
    assert.match(err.message, new RegExp(`webhook answered ${status}: planned ${status}`));
    assert.equal(rx.requests.length, 1, `${status} is not retried`);
  }
});

test('webhook: a redirect is not followed (the signed events go only where configured)', async (t) => {
  const { rx, sink } = await setup(t);
  rx.plan = [{ status: 307, headers: { location: 'http://127.0.0.1:1/elsewhere' } }];
  await assert.rejects(sink.deliver(eventsFrom(1, 1), signal), (e: unknown) => e instanceof DeliveryError && e.permanent && e.status === 307);
  assert.equal(rx.requests.length, 1);
});

test('webhook: a receiver that does not answer hits the timeout and is retried', async (t) => {
  const { rx, sink } = await setup(t, { timeoutMs: 300 });
  rx.plan = [{ hang: true }];
  const started = Date.now();
  await sink.deliver(eventsFrom(1, 2), signal);
  assert.equal(rx.requests.length, 2);
  assert.ok(Date.now() - started >= 300);
  assert.equal(rx.processed.size, 1);
});

test('webhook: after maxAttempts the error goes to the caller; the next delivery of that batch is byte-identical', async (t) => {
  const { rx, sink } = await setup(t, { maxAttempts: 3 });
  rx.plan = [{ status: 500 }, { status: 502 }, { status: 503 }];
  const events = eventsFrom(7, 3);
  await assert.rejects(sink.deliver(events, signal), (e: unknown) => e instanceof DeliveryError && !e.permanent && e.status === 503);
  assert.equal(rx.requests.length, 3);
  await sink.deliver(events, signal);
  assert.equal(rx.requests.length, 4);
  assert.ok(rx.requests[3]!.raw.equals(rx.requests[0]!.raw), 'same body, same batchId, same createdAt');
  assert.equal(rx.processed.size, 1);
});

test('webhook: a Retry-After beyond retryMaxMs ends the delivery and is handed to the runner', async (t) => {
  const { rx, sink } = await setup(t, { retryMaxMs: 1000 });
  rx.plan = [{ status: 503, headers: { 'retry-after': '120' } }];
  await assert.rejects(sink.deliver(eventsFrom(1, 1), signal), (e: unknown) => e instanceof DeliveryError && e.retryAfterMs === 120_000);
  assert.equal(rx.requests.length, 1);
});

test('webhook: a batch over maxBodyBytes goes as several signed requests, each under the cap, every event once, in order', async (t) => {
  const { rx, sink } = await setup(t, { maxBodyBytes: 65_536, maxAttempts: 1 });
  const events = Array.from({ length: 120 }, (_, i) => sampleEvent({ seq: String(i + 1), id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`, detail: `é"\\\n`.repeat(400) }));
  // the second request fails: the batch fails, and delivering it again does not re-send the first request
  rx.plan = [{ pass: true }, { status: 500 }];
  await assert.rejects(sink.deliver(events, signal), /webhook answered 500/);
  assert.equal(rx.requests.length, 2);
  await sink.deliver(events, signal);
  const sizes = rx.requests.map((r) => r.raw.length);
  assert.ok(sizes.every((s) => s <= 65_536), `sizes ${sizes.join(',')}`);
  const batches = [...rx.processed.values()];
  assert.ok(batches.length >= 3, `${batches.length} requests`);
  assert.equal(new Set(batches.map((b) => b.batchId)).size, batches.length);
  assert.deepEqual(batches.flatMap((b) => b.events.map((e) => e.seq)), events.map((e) => e.seq));
  assert.equal(rx.requests.length, batches.length + 1, 'only the failed request was sent twice');
  assert.equal(rx.requests[0]!.signatureOk && rx.requests.every((r) => r.signatureOk), true);
});

test('webhook: a delivery stopped by its signal ends at once', async (t) => {
  const { rx, sink } = await setup(t, { retryBaseMs: 5000, retryMaxMs: 10_000 });
  rx.plan = [{ status: 503 }];
  const stop = new AbortController();
  const p = sink.deliver(eventsFrom(1, 1), stop.signal);
  setTimeout(() => stop.abort(), 200);
  const started = Date.now();
  await assert.rejects(p, /stopped/);
  assert.ok(Date.now() - started < 2000);
});
