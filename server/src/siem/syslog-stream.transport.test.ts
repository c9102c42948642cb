import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { parseSinkConfigs, type SyslogTcpSinkConfig, type SyslogTlsSinkConfig } from './sink.config.ts';
import { createSyslogSink } from './syslog.sink.ts';
import { createStreamTransport, frameOctetCounted } from './syslog-stream.transport.ts';
import { eventsFrom, hasOpenssl, makeTestPki, parseCef, parseSyslog, startStreamReceiver, type TestPki } from './siem.test-helper.ts';

const silent = pino({ level: 'silent' });
const signal = new AbortController().signal;
const seqs = (ms: Buffer[]) => ms.map((m) => parseSyslog(m).sd[0]!.params.seq);

test('octet counting frames a message as MSG-LEN SP MSG with the length in octets', () => {
  assert.equal(frameOctetCounted(Buffer.from('<13>1 - - - - - - é')).toString(), '20 <13>1 - - - - - - é');
});

test('syslog over TCP: octet-counted RFC 5424 messages, one connection reused across batches', async (t) => {
  const rx = await startStreamReceiver();
  t.after(() => rx.close());
  const [config] = parseSinkConfigs([{ type: 'syslog-tcp', name: 'tcp', host: '127.0.0.1', port: rx.port }]) as [SyslogTcpSinkConfig];
  const sink = createSyslogSink({ config, productVersion: '0.1.0', logger: silent });
  t.after(() => sink.close());
  await sink.deliver(eventsFrom(1, 5), signal);
  await sink.deliver(eventsFrom(6, 5), signal);
  const got = await rx.waitFor(10);
  assert.deepEqual(seqs(got), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  assert.equal(rx.connections, 1);
  assert.equal(parseCef(parseSyslog(got[0]!).msg!).signatureId, '100');
});

test('TCP: a receiver that went away fails the send; once it is back the next send reconnects', async (t) => {
  const rx1 = await startStreamReceiver();
  const port = rx1.port;
  const tx = createStreamTransport({ host: '127.0.0.1', port, connectTimeoutMs: 1000 });
  t.after(() => tx.close());
  await tx.send([Buffer.from('<13>1 - - - - - - one')]);
  await rx1.waitFor(1);
  await rx1.close();
  await delay(50);
  await assert.rejects(tx.send([Buffer.from('<13>1 - - - - - - lost')]), /connect to tcp:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  const rx2 = await startStreamReceiver({ port });
  t.after(() => rx2.close());
  await tx.send([Buffer.from('<13>1 - - - - - - two')]);
  assert.deepEqual((await rx2.waitFor(1)).map(String), ['<13>1 - - - - - - two']);
});

test('TCP: a receiver that stops reading makes the write time out, and an aborted send ends at once', async (t) => {
  const held: Socket[] = [];
  const server = createServer((s) => (s.pause(), held.push(s)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => (held.forEach((s) => s.destroy()), new Promise((r) => server.close(r))));
  const port = (server.address() as AddressInfo).port;
  const chunk = [Buffer.alloc(4 << 20, 0x41)];
  // The kernel takes a few batches into its socket buffers before the window closes.
  const tx = createStreamTransport({ host: '127.0.0.1', port, writeTimeoutMs: 1000 });
  t.after(() => tx.close());
  let err: unknown;
  for (let i = 0; i < 200 && !err; i++) await tx.send(chunk).catch((e: unknown) => (err = e));
  assert.match(String(err), /write to tcp:.* timed out after 1000 ms/);

  // the runner's stop() aborts a stalled write rather than waiting out a long timeout
  const slow = createStreamTransport({ host: '127.0.0.1', port, writeTimeoutMs: 600_000 });
  t.after(() => slow.close());
  const stop = new AbortController();
  for (let i = 0; i < 200; i++) {
    const p = slow.send(chunk, stop.signal);
    if ((await Promise.race([p.then(() => 'sent'), delay(1500).then(() => 'stalled')])) === 'sent') continue;
    const t0 = Date.now();
    stop.abort();
    await assert.rejects(p, /closed during a write|write to .* failed/);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    return;
  }
  assert.fail('the write never stalled');
});

let pki: TestPki | undefined;
const tlsTest = (name: string, fn: (t: import('node:test').TestContext, pki: TestPki) => Promise<void>) =>
  test(name, async (t) => {
    if (!hasOpenssl()) return t.skip('the openssl CLI makes the test CA; it is not installed');
    pki ??= makeTestPki();
    await fn(t, pki);
  });

async function tlsSink(t: import('node:test').TestContext, port: number, extra: Partial<SyslogTlsSinkConfig>) {
  const [config] = parseSinkConfigs([{ type: 'syslog-tls', name: 'tls', host: '127.0.0.1', port, connectTimeoutMs: 2000, ...extra }]) as [SyslogTlsSinkConfig];
  const sink = createSyslogSink({ config, productVersion: '0.1.0', logger: silent });
  t.after(() => sink.close());
  return sink;
}

tlsTest('syslog over TLS: the receiver certificate is checked against the CA bundle and the server name', async (t, p) => {
  const rx = await startStreamReceiver({ tls: { key: p.serverKey, cert: p.serverCert } });
  t.after(() => rx.close());
  const sink = await tlsSink(t, rx.port, { ca: p.ca, servername: 'syslog.test' });
  await sink.deliver(eventsFrom(1, 3), signal);
  await sink.deliver(eventsFrom(4, 1), signal);
  assert.deepEqual(seqs(await rx.waitFor(4)), ['1', '2', '3', '4']);
  assert.equal(rx.connections, 1);
  // without a servername the address is checked against the certificate's IP SAN
  const byIp = await tlsSink(t, rx.port, { ca: p.ca });
  await byIp.deliver(eventsFrom(5, 1), signal);
  assert.deepEqual(seqs(await rx.waitFor(5)).slice(4), ['5']);
});

tlsTest('TLS refuses a certificate for another name, or from a CA not in the bundle', async (t, p) => {
  const rx = await startStreamReceiver({ tls: { key: p.serverKey, cert: p.serverCert } });
  t.after(() => rx.close());
  const wrongName = await tlsSink(t, rx.port, { ca: p.ca, servername: 'other.test' });
  await assert.rejects(wrongName.deliver(eventsFrom(1, 1), signal), /connect to tls:.* failed: .*(does not match|altnames)/i);
  const wrongCa = await tlsSink(t, rx.port, { ca: p.otherCa, servername: 'syslog.test' });
  await assert.rejects(wrongCa.deliver(eventsFrom(1, 1), signal), /connect to tls:.* failed: .*(unable to verify|self.signed|local issuer)/i);
  assert.equal(rx.messages.length, 0, 'nothing was sent to an unverified receiver');
  // the explicitly named insecure option accepts it (encrypted, unauthenticated)
  const insecure = await tlsSink(t, rx.port, { ca: p.otherCa, insecureSkipVerify: true });
  await insecure.deliver(eventsFrom(1, 1), signal);
  assert.deepEqual(seqs(await rx.waitFor(1)), ['1']);
});

tlsTest('TLS with a client certificate for a receiver that requires one (mutual TLS)', async (t, p) => {
  const rx = await startStreamReceiver({ tls: { key: p.serverKey, cert: p.serverCert, ca: p.ca, requestCert: true, rejectUnauthorized: true } });
  t.after(() => rx.close());
  const sink = await tlsSink(t, rx.port, { ca: p.ca, servername: 'syslog.test', cert: p.clientCert, key: p.clientKey });
  await sink.deliver(eventsFrom(1, 2), signal);
  assert.deepEqual(seqs(await rx.waitFor(2)), ['1', '2']);
});

tlsTest('TLS: a peer that accepts TCP but never completes the handshake hits the connect timeout', async (t, p) => {
  const held: Socket[] = [];
  const server = createServer((s) => held.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => (held.forEach((s) => s.destroy()), new Promise((r) => server.close(r))));
  const tx = createStreamTransport({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, connectTimeoutMs: 300, tls: { ca: p.ca, servername: 'syslog.test' } });
  await assert.rejects(tx.send([Buffer.from('x')]), /connect to tls:.* timed out after 300 ms/);
  await tx.close();
});
