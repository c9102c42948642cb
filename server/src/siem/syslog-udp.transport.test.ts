import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { parseSinkConfigs, type SyslogUdpSinkConfig } from './sink.config.ts';
import { createSyslogSink } from './syslog.sink.ts';
import { createUdpTransport } from './syslog-udp.transport.ts';
import { eventsFrom, parseCef, parseSyslog, sampleEvent } from './siem.test-helper.ts';

async function udpReceiver() {
  const sock = createSocket('udp4');
  const datagrams: Buffer[] = [];
  sock.on('message', (m) => datagrams.push(m));
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  return {
    port: (sock.address() as AddressInfo).port,
    datagrams,
    async waitFor(n: number) {
      for (let i = 0; i < 500 && datagrams.length < n; i++) await delay(10);
      return datagrams;
    },
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

test('syslog over UDP: one RFC 5424 message per datagram, in order, a long one cut to the cap and marked', async (t) => {
  const rx = await udpReceiver();
  t.after(() => rx.close());
  const [config] = parseSinkConfigs([{ type: 'syslog-udp', name: 'udp', host: '127.0.0.1', port: rx.port }]) as [SyslogUdpSinkConfig];
  assert.equal(config.maxMessageBytes, 2048, 'the default cap');
  const sink = createSyslogSink({ config, productVersion: '0.1.0', procId: '77', logger: pino({ level: 'silent' }) });
  t.after(() => sink.close());
  const events = [...eventsFrom(1, 3), sampleEvent({ seq: '4', type: 'crash', detail: 'x'.repeat(5000) })];
  await sink.deliver(events, new AbortController().signal);
  const got = await rx.waitFor(4);
  assert.equal(got.length, 4);
  const parsed = got.map(parseSyslog);
  assert.deepEqual(parsed.map((p) => p.sd[0]!.params.seq), ['1', '2', '3', '4']);
  for (const p of parsed) {
    assert.equal(p.appName, 'suture');
    assert.equal(p.procId, '77');
    assert.equal(p.pri, 16 * 8 + (p.msgId === 'crash' ? 2 : 5), 'local0; crash of a high patch: critical, applied: notice');
    assert.equal(parseCef(p.msg!).vendor, 'Suture');
  }
  assert.ok(got[3]!.length <= 2048);
  assert.ok(Number(parsed[3]!.sd[0]!.params.truncated) > 5000, 'the cut is stated with the original size');
  assert.equal(parsed[0]!.sd[0]!.params.truncated, undefined);
  assert.match(parseCef(parsed[3]!.msg!).ext.msg!, /^x+$/);
});

test('the UDP transport refuses a datagram over its cap rather than let the network fragment or drop it', async () => {
  const tx = createUdpTransport({ host: '127.0.0.1', port: 9, maxDatagramBytes: 1024 });
  await assert.rejects(tx.send([Buffer.alloc(1025, 0x41)]), /exceeds the 1024-octet datagram cap/);
  await tx.close();
});
