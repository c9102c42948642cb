import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { inventoryDigest, MAX_MESSAGE_BYTES, parseMessage, PROTOCOL_VERSION } from './index.ts';

const hello = { v: PROTOCOL_VERSION, type: 'hello', agentVersion: '0.1.0', os: 'linux', arch: 'x86_64', hostname: 'web-01', desiredVersion: 0 };
const event = { id: randomUUID(), at: new Date().toISOString(), type: 'applied', patchId: 'SUT-1', pid: 42 };

test('valid messages of each direction parse; each side only accepts the other side\'s messages', () => {
  assert.deepEqual(parseMessage('agent', JSON.stringify(hello)), { ok: true, message: hello });
  const events = { v: 1, type: 'events', events: [event] };
  assert.equal(parseMessage('agent', Buffer.from(JSON.stringify(events))).ok, true);
  // A frame that is a slice of a larger buffer (as a socket read can be): only its own bytes count.
  const pool = Buffer.from(`xx${JSON.stringify(hello)}yy`);
  assert.deepEqual(parseMessage('agent', new Uint8Array(pool.buffer, pool.byteOffset + 2, pool.length - 4)), { ok: true, message: hello });
  const command = { v: 1, type: 'command', id: randomUUID(), kind: 'unapply', patchId: 'SUT-1' };
  assert.equal(parseMessage('server', JSON.stringify(command)).ok, true);
  assert.equal(parseMessage('agent', JSON.stringify(command)).ok, false, 'an agent does not send commands');
  assert.equal(parseMessage('server', JSON.stringify(hello)).ok, false, 'the server does not say hello');
  const status = { v: 1, type: 'patch-status', patches: [{ patchId: 'SUT-1', matching: 3, applied: 2, refused: 1, failed: 0, stopped: 'process 7 died of signal 11' }] };
  assert.equal(parseMessage('agent', JSON.stringify(status)).ok, true);
  assert.equal(parseMessage('agent', JSON.stringify({ ...status, patches: [{ ...status.patches[0], applied: -1 }] })).ok, false, 'counts are never negative');
});

test('refusals are typed and say why; nothing throws', () => {
  const no = (frame: string, code: string) => {
    const r = parseMessage('agent', frame);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, code, frame.slice(0, 80));
    return r;
  };
  no('{', 'not-json');
  no('[1]', 'invalid');
  no('null', 'invalid');
  no(JSON.stringify({ ...hello, v: 2 }), 'unsupported-version');
  no(JSON.stringify({ ...hello, extra: true }), 'invalid');
  no(JSON.stringify({ ...hello, type: 'bogus' }), 'invalid');
  const bad = no(JSON.stringify({ v: 1, type: 'events', events: [{ ...event, pid: -1 }] }), 'invalid');
  assert.match(!bad.ok ? bad.detail : '', /events/);
  no(JSON.stringify({ v: 1, type: 'events', events: [] }), 'invalid');
  no(JSON.stringify({ v: 1, type: 'events', events: [{ ...event, id: 'not-a-uuid' }] }), 'invalid');
  no(' '.repeat(MAX_MESSAGE_BYTES + 1), 'too-large');
});

test('inventoryDigest: the same set in any order gives the same digest; a count, a name or a module more changes it; gone modules do not count', () => {
  const m = (n: string, processes: number, name = `lib${n}.so`) => ({ sha256: n.repeat(64), name, processes });
  const d = inventoryDigest([m('a', 3), m('b', 1)]);
  assert.match(d, /^[0-9a-f]{64}$/);
  assert.equal(inventoryDigest([m('b', 1), m('a', 3)]), d);
  assert.equal(inventoryDigest([m('b', 1), m('a', 3), m('c', 0)]), d);
  for (const other of [[m('a', 3), m('b', 2)], [m('a', 3), m('b', 1, 'libB.so')], [m('a', 3), m('b', 1), m('c', 1)], [m('a', 3)]]) assert.notEqual(inventoryDigest(other), d);
  assert.equal(inventoryDigest([]), inventoryDigest([m('c', 0)]));
});
