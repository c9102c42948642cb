import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import type { SiemEvent } from './siem-event.schema.ts';
import { createSinkRunner, type SinkRunner, type SinkRunnerDeps, type SinkStatus } from './sink-runner.service.ts';
import { parseSinkConfigs } from './sink.config.ts';
import { eventsFrom, parseSyslog, startStreamReceiver } from './siem.test-helper.ts';
import { startWebhookReceiver } from './webhook-receiver.test-helper.ts';

const secret = 'whsec_runner_test_0123456789abcdef012345';

/** The event log and cursor table, in memory: what the server will back with PostgreSQL. */
function memoryStore() {
  const events: SiemEvent[] = [];
  const cursors = new Map<string, string>();
  const limits: number[] = [];
  const s = {
    events,
    cursors,
    limits,
    failFetch: false,
    failSave: false,
    append(n: number) {
      events.push(...eventsFrom(events.length + 1, n));
    },
    fetchAfter: async (cursor: string, limit: number) => {
      limits.push(limit);
      if (s.failFetch) throw new Error('database unavailable');
      return events.filter((e) => BigInt(e.seq) > BigInt(cursor)).slice(0, limit);
    },
    loadCursor: async (sink: string) => cursors.get(sink) ?? null,
    saveCursor: async (sink: string, cursor: string) => {
      if (s.failSave) throw new Error('cursor table unavailable');
      cursors.set(sink, cursor);
    },
    latestSeq: async () => events.at(-1)?.seq ?? null,
  };
  return s;
}

function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function runner(t: import('node:test').TestContext, deps: Partial<SinkRunnerDeps> & Pick<SinkRunnerDeps, 'sinks' | 'fetchAfter' | 'loadCursor' | 'saveCursor'>): SinkRunner {
  const r = createSinkRunner({ logger: pino({ level: 'silent' }), productVersion: '0.1.0', pollIntervalMs: 50, backoff: { baseMs: 50, maxMs: 300 }, ...deps });
  t.after(() => r.stop());
  return r;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

const byName = async (r: SinkRunner, name: string): Promise<SinkStatus> => (await r.status()).find((s) => s.name === name)!;
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

test('sinks down for a while, then back up, get every event in order with no gap and no duplicate (webhook and TCP)', async (t) => {
  const store = memoryStore();
  const hook = await startWebhookReceiver({ secret });
  t.after(() => hook.close());
  let tcp = await startStreamReceiver();
  const tcpPort = tcp.port;
  t.after(() => tcp.close());
  const sinks = parseSinkConfigs([
    { type: 'webhook', name: 'hook', url: hook.url, secret, allowPlainHttp: true, retryBaseMs: 20, retryMaxMs: 100, maxAttempts: 2 },
    { type: 'syslog-tcp', name: 'tcp', host: '127.0.0.1', port: tcpPort, connectTimeoutMs: 500 },
  ]);
  const r = runner(t, { ...store, sinks, batchSize: 25 });
  store.append(60);
  r.start();
  await until('the first 60 events', async () => (await hook.waitForEvents(60)).length === 60 && tcp.messages.length === 60);

  // both receivers go down; events keep arriving
  hook.down = true;
  await tcp.close();
  for (let i = 0; i < 5; i++) (store.append(13), await delay(60));
  await until('both sinks failing', async () => (await byName(r, 'hook')).consecutiveFailures >= 2 && (await byName(r, 'tcp')).consecutiveFailures >= 2);
  const down = await r.status();
  for (const s of down) {
    assert.equal(s.deliveredSeq, '60', `${s.name} holds its cursor while down`);
    assert.equal(s.lagEvents, 65);
    assert.ok(s.lagMs > 0 && s.lastError !== null, JSON.stringify(s));
  }
  assert.match((await byName(r, 'hook')).lastError!.message, /^delivery: webhook answered 503/);
  assert.match((await byName(r, 'tcp')).lastError!.message, /^delivery: connect to tcp:\/\/127\.0\.0\.1:\d+ failed/);
  assert.equal(store.cursors.get('hook'), '60');

  // back up: same port for the syslog receiver
  hook.down = false;
  tcp = await startStreamReceiver({ port: tcpPort });
  store.append(7);
  const total = 132;
  await until('every event at both receivers', async () => (await hook.waitForEvents(0)).length >= total && tcp.messages.length >= total - 60);
  await until('cursors saved', () => store.cursors.get('hook') === String(total) && store.cursors.get('tcp') === String(total));
  assert.deepEqual((await hook.waitForEvents(total)).map((e) => e.seq), range(1, total));
  assert.deepEqual(tcp.messages.map((m) => parseSyslog(m).sd[0]!.params.seq), range(61, total));
  for (const s of await r.status()) {
    assert.deepEqual([s.deliveredSeq, s.consecutiveFailures, s.lagEvents, s.nextAttemptAt], [String(total), 0, 0, null], s.name);
  }
  assert.ok(Math.max(...store.limits) <= 25, 'never asks for more than one batch');
});

test('stop and start again: it resumes after the saved cursor; a cursor that could not be saved means re-delivery, not loss', async (t) => {
  const store = memoryStore();
  const hook = await startWebhookReceiver({ secret });
  t.after(() => hook.close());
  const sinks = parseSinkConfigs([{ type: 'webhook', name: 'hook', url: hook.url, secret, allowPlainHttp: true }]);
  store.append(30);
  const first = runner(t, { ...store, sinks, batchSize: 10 });
  first.start();
  await until('30 delivered', () => store.cursors.get('hook') === '30');
  store.failSave = true; // delivered, but the cursor table is down
  store.append(10);
  await until('40 delivered', async () => (await byName(first, 'hook')).deliveredSeq === '40');
  assert.match((await byName(first, 'hook')).lastError!.message, /^saveCursor: cursor table unavailable/);
  await first.stop();
  assert.equal((await first.status())[0]!.state, 'stopped');
  assert.equal(store.cursors.get('hook'), '30', 'the saved cursor lags what was delivered');

  store.failSave = false;
  store.append(5);
  const second = runner(t, { ...store, sinks, batchSize: 10 });
  second.start();
  await until('45 saved', () => store.cursors.get('hook') === '45');
  const requests = hook.requests.length;
  // 31..40 went again as the same batch (same batch id): the receiver processed it once
  assert.deepEqual((await hook.waitForEvents(45)).map((e) => e.seq), range(1, 45));
  assert.equal(hook.processed.size, 5);
  assert.equal(requests, 6, 'one re-delivery of the batch whose cursor was not saved');
});

test('a failing event store, a permanent refusal: back-off and status; the secret is never logged', async (t) => {
  const store = memoryStore();
  const hook = await startWebhookReceiver({ secret });
  t.after(() => hook.close());
  const { logger, lines } = logCapture();
  const sinks = parseSinkConfigs([{ type: 'webhook', name: 'hook', url: `${hook.url}?tenant=x`, secret, allowPlainHttp: true }]);
  store.failFetch = true;
  store.append(3);
  const r = runner(t, { ...store, sinks, logger, backoff: { baseMs: 20, maxMs: 400 } });
  r.start();
  await until('fetch failures', async () => (await byName(r, 'hook')).consecutiveFailures >= 2);
  assert.match((await byName(r, 'hook')).lastError!.message, /^fetchAfter: database unavailable/);
  store.failFetch = false;
  hook.plan = [{ status: 401 }];
  await until('the 401', async () => /401/.test((await byName(r, 'hook')).lastError?.message ?? ''));
  assert.equal(hook.requests.length, 1, 'a 401 is not retried within the delivery');
  const s = await byName(r, 'hook');
  assert.equal(s.state, 'backing-off');
  assert.match(s.lastError!.message, /webhook answered 401/);
  const wait = Date.parse(s.nextAttemptAt!) - Date.parse(s.lastError!.at);
  assert.ok(wait >= 350 && wait <= 450, `a permanent failure waits the longest back-off (${wait} ms)`);
  await until('delivered after the 401', () => store.cursors.get('hook') === '3');
  await r.stop();
  const log = lines.join('');
  assert.ok(!log.includes(secret), 'no secret in the log');
  assert.ok(!log.includes('tenant=x'), 'no URL query in the log');
  assert.match(log, /"msg":"SIEM sink configured"/);
  assert.match(log, /"component":"siem","sink":"hook","sinkType":"webhook"/);
});

test('notify() wakes an idle sink before its poll interval; stop() during a long back-off returns at once', async (t) => {
  const store = memoryStore();
  const tcp = await startStreamReceiver();
  t.after(() => tcp.close());
  const sinks = parseSinkConfigs([
    { type: 'syslog-tcp', name: 'tcp', host: '127.0.0.1', port: tcp.port },
    { type: 'syslog-tcp', name: 'dead', host: '127.0.0.1', port: 1, connectTimeoutMs: 200 },
  ]);
  const r = runner(t, { ...store, sinks, pollIntervalMs: 60_000, backoff: { baseMs: 60_000, maxMs: 60_000 } });
  r.start();
  await until('idle', async () => (await byName(r, 'tcp')).state === 'idle');
  store.append(4);
  const started = Date.now();
  r.notify();
  await tcp.waitFor(4, 5000);
  assert.ok(Date.now() - started < 5000);
  await until('the dead sink backing off', async () => (await byName(r, 'dead')).state === 'backing-off');
  const stopping = Date.now();
  await r.stop();
  assert.ok(Date.now() - stopping < 3000, 'stop does not wait out the back-off');
  assert.deepEqual((await r.status()).map((s) => [s.name, s.state, s.deliveredSeq]), [['tcp', 'stopped', '4'], ['dead', 'stopped', null]]);
  assert.equal(store.cursors.get('tcp'), '4');
});
