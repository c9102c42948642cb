import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CEF_TYPES, cefSeverity, escapeCefExtension, escapeCefHeader, formatCef, sutureEventToCef } from './cef.formatter.ts';
import { SIEM_EVENT_TYPES } from './siem-event.schema.ts';
import { parseCef, sampleEvent } from './siem.test-helper.ts';

const base = { vendor: 'security', product: 'threatmanager', deviceVersion: '1.0', signatureId: '100', severity: 10 };

test('reproduces the CEF specification examples byte for byte', () => {
  assert.equal(
    formatCef({ ...base, name: 'worm successfully stopped', extension: [['src', '10.0.0.1'], ['dst', '2.1.2.2'], ['spt', 1232]] }),
    'CEF:0|security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232',
  );
  // a pipe is escaped in the header, not in an extension value
  assert.equal(
    formatCef({ ...base, name: 'detected a | in message', extension: [['src', '10.0.0.1'], ['act', 'blocked a |'], ['dst', '1.1.1.1']] }),
    'CEF:0|security|threatmanager|1.0|100|detected a \\| in message|10|src=10.0.0.1 act=blocked a | dst=1.1.1.1',
  );
  // a backslash is escaped in both
  assert.equal(
    formatCef({ ...base, name: 'detected a \\ in packet', extension: [['src', '10.0.0.1'], ['act', 'blocked a \\'], ['dst', '1.1.1.1']] }),
    'CEF:0|security|threatmanager|1.0|100|detected a \\\\ in packet|10|src=10.0.0.1 act=blocked a \\\\ dst=1.1.1.1',
  );
  // an equals sign is escaped in an extension value, not in the header
  assert.equal(
    formatCef({ ...base, name: 'detected a = in message', extension: [['src', '10.0.0.1'], ['act', 'blocked a ='], ['dst', '1.1.1.1']] }),
    'CEF:0|security|threatmanager|1.0|100|detected a = in message|10|src=10.0.0.1 act=blocked a \\= dst=1.1.1.1',
  );
  // a multi-line value is written with \n
  assert.equal(
    formatCef({ ...base, name: 'x', extension: [['msg', 'Detected a threat.\n No action needed.']] }),
    'CEF:0|security|threatmanager|1.0|100|x|10|msg=Detected a threat.\\n No action needed.',
  );
});

test('escaping edge cases: CR/LF, control characters, header newlines', () => {
  assert.equal(escapeCefExtension('a\r\nb'), 'a\\r\\nb');
  assert.equal(escapeCefExtension('k=v\\'), 'k\\=v\\\\');
  assert.equal(escapeCefExtension('a|b'), 'a|b');
  assert.equal(escapeCefHeader('line1\r\nline2\nx|y\\z'), 'line1 line2 x\\|y\\\\z');
  assert.equal(escapeCefExtension('nul\u0000bell\u0007del\u007f'), 'nul\ufffdbell\ufffddel\ufffd');
  assert.equal(escapeCefExtension('tab\tok é'), 'tab\tok é');
  assert.throws(() => formatCef({ ...base, name: 'x', severity: 11, extension: [] }), /0-10/);
  assert.throws(() => formatCef({ ...base, name: 'x', extension: [['bad key', 'v']] }), /alphanumeric/);
});

test('a Suture event maps to the documented CEF fields and survives hostile values', () => {
  const hostile = 'why=because \\ path C:\\x | pipe\nline two\r\nthree ]"';
  const e = sampleEvent({ type: 'failed', reason: 'expect-mismatch', detail: hostile, commandId: '11111111-2222-4333-8444-555555555555', cves: ['CVE-2026-1', 'CVE-2026-2'] });
  const line = sutureEventToCef(e, { productVersion: '0.1.0|beta' });
  assert.ok(!/[\r\n]/.test(line), 'one line');
  const c = parseCef(line);
  assert.deepEqual(
    { version: c.version, vendor: c.vendor, product: c.product, deviceVersion: c.deviceVersion, signatureId: c.signatureId, name: c.name, severity: c.severity },
    { version: '0', vendor: 'Suture', product: 'Suture', deviceVersion: '0.1.0|beta', signatureId: '220', name: 'Micropatch failed', severity: '8' },
  );
  assert.deepEqual(c.ext, {
    rt: String(Date.parse(e.at)),
    act: 'failed',
    outcome: 'failure',
    externalId: e.id,
    deviceExternalId: e.agentId,
    dvchost: 'web-01.example.com',
    dpid: '4242',
    cn1Label: 'seq',
    cn1: '42',
    cs1Label: 'patchId',
    cs1: 'SUT-2026-0001',
    cs2Label: 'cves',
    cs2: 'CVE-2026-1,CVE-2026-2',
    cs3Label: 'group',
    cs3: 'web',
    cs4Label: 'commandId',
    cs4: '11111111-2222-4333-8444-555555555555',
    cs5Label: 'patchSeverity',
    cs5: 'high',
    deviceCustomDate1Label: 'receivedAt',
    deviceCustomDate1: String(Date.parse(e.receivedAt)),
    reason: 'expect-mismatch',
    msg: hostile,
  });
  assert.ok(line.endsWith(`msg=${escapeCefExtension(hostile)}`), 'the detail comes last (a size cap cuts it first)');
});

test('unknown fields are left out, not written empty', () => {
  const c = parseCef(sutureEventToCef(sampleEvent({ hostname: null, group: undefined, cves: [], severity: null, reason: null, detail: null }), { productVersion: '1' }));
  for (const k of ['dvchost', 'cs2', 'cs2Label', 'cs3', 'cs5', 'reason', 'msg']) assert.equal(c.ext[k], undefined, k);
  assert.equal(c.ext.cs1, 'SUT-2026-0001');
});

test('every event type has its own stable Signature ID, name and MSGID-safe type', () => {
  assert.deepEqual(
    Object.fromEntries(SIEM_EVENT_TYPES.map((t) => [t, CEF_TYPES[t].signatureId])),
    { applied: '100', unapplied: '110', refused: '210', busy: '200', failed: '220', crash: '300', adopted: '101' },
  );
  assert.equal(new Set(Object.values(CEF_TYPES).map((t) => t.name)).size, SIEM_EVENT_TYPES.length);
});

test('CEF severity: by event type, raised for high and critical patches left out of a process', () => {
  const table = Object.fromEntries(
    SIEM_EVENT_TYPES.map((type) => [type, [undefined, 'low', 'medium', 'high', 'critical'].map((severity) => cefSeverity({ type, severity: severity as never }))]),
  );
  assert.deepEqual(table, {
    applied: [3, 3, 3, 3, 3],
    adopted: [2, 2, 2, 2, 2],
    unapplied: [5, 5, 5, 6, 7],
    busy: [4, 4, 4, 5, 6],
    refused: [6, 6, 6, 7, 8],
    failed: [7, 7, 7, 8, 9],
    crash: [8, 8, 8, 9, 10],
  });
});
