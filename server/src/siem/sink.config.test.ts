import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeSink, parseSinkConfigs, SinkConfigError } from './sink.config.ts';

const secret = 'whsec_a_secret_that_is_long_enough_123';

test('defaults are filled in for every sink type', () => {
  const [udp, tcp, tls, hook] = parseSinkConfigs([
    { type: 'syslog-udp', name: 'u', host: 'siem.example', port: 514 },
    { type: 'syslog-tcp', name: 't', host: 'siem.example', port: 601 },
    { type: 'syslog-tls', name: 's', host: 'siem.example', port: 6514 },
    { type: 'webhook', name: 'w', url: 'https://siem.example/in', secret },
  ]);
  assert.deepEqual(udp, { type: 'syslog-udp', name: 'u', host: 'siem.example', port: 514, facility: 'local0', enterpriseId: '32473', maxMessageBytes: 2048 });
  assert.equal(tcp?.type === 'syslog-tcp' && tcp.maxMessageBytes, 8192);
  assert.equal(tls?.type === 'syslog-tls' && tls.insecureSkipVerify, false, 'TLS verifies unless told otherwise');
  assert.deepEqual(hook?.type === 'webhook' && [hook.maxAttempts, hook.timeoutMs, hook.retryBaseMs, hook.retryMaxMs, hook.maxBodyBytes, hook.allowPlainHttp], [5, 10_000, 500, 30_000, 1_048_576, false]);
});

test('every problem is named at once, and no secret value appears in the message', () => {
  const bad = [
    { type: 'webhook', name: 'w', url: 'http://siem.example/in', secret },
    { type: 'webhook', name: 'w', url: 'https://user:pw@siem.example/in', secret },
    { type: 'webhook', name: 'x', url: 'https://siem.example/in', secret: 'short-secret-value' },
    { type: 'syslog-tls', name: 's', host: 'h', port: 6514, cert: 'PEM' },
    { type: 'syslog-udp', name: 'u', host: 'h', port: 70000 },
    { type: 'kafka', name: 'k' },
    { type: 'syslog-tcp', name: 't', host: 'h', port: 1, extra: true },
  ];
  const err = (() => {
    try {
      parseSinkConfigs(bad);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof SinkConfigError);
  for (const part of ['sinks[0].url: must be https://', 'sinks[1].url: must not carry credentials', 'sinks[1].name: "w" is used twice', 'sinks[2].secret', 'sinks[3]: cert and key go together', 'sinks[4].port', 'sinks[5].type', 'sinks[6]']) {
    assert.ok(err.message.includes(part), `${part} in ${err.message}`);
  }
  assert.ok(!err.message.includes(secret) && !err.message.includes('short-secret-value') && !err.message.includes(':pw@'));
  assert.throws(() => parseSinkConfigs({}), SinkConfigError);
});

test('describeSink shows where a sink delivers, never its secret, key or URL query', () => {
  const [hook, tls] = parseSinkConfigs([
    { type: 'webhook', name: 'w', url: 'https://siem.example/in?token=abc', secret },
    { type: 'syslog-tls', name: 's', host: 'h', port: 6514, cert: 'CERT', key: 'PRIVATE KEY' },
  ]);
  assert.deepEqual(describeSink(hook!), { name: 'w', type: 'webhook', url: 'https://siem.example/in' });
  assert.deepEqual(describeSink(tls!), { name: 's', type: 'syslog-tls', host: 'h', port: 6514, servername: 'h', verify: true, clientCert: true });
  assert.ok(!JSON.stringify([describeSink(hook!), describeSink(tls!)]).match(/abc|whsec|PRIVATE/));
});
