import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cefSeverity } from './cef.formatter.ts';
import { escapeSdValue, FACILITIES, formatSyslog, sutureEventToSyslog, syslogSeverity, utf8Prefix } from './syslog.formatter.ts';
import { parseCef, parseSyslog, sampleEvent } from './siem.test-helper.ts';

const BOM = '\ufeff';
const rfcTime = new Date('2003-10-11T22:14:15.003Z');

test('RFC 5424 6.5 example 1: no STRUCTURED-DATA, MSG with a BOM', () => {
  const { bytes } = formatSyslog({
    facility: FACILITIES.auth,
    severity: 2,
    timestamp: rfcTime,
    hostname: 'mymachine.example.com',
    appName: 'su',
    msgId: 'ID47',
    msg: "'su root' failed for lonvick on /dev/pts/8",
    bom: 'always',
  });
  assert.equal(bytes.toString('utf8'), `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${BOM}'su root' failed for lonvick on /dev/pts/8`);
  const at = bytes.indexOf('ID47 - ') + 7;
  assert.deepEqual([...bytes.subarray(at, at + 3)], [0xef, 0xbb, 0xbf], 'the BOM is the UTF-8 octets EF BB BF');
});

test('RFC 5424 6.5 examples 3 and 4: SD-ELEMENTs, with and without MSG', () => {
  const sd = [{ id: 'exampleSDID@32473', params: [['iut', '3'], ['eventSource', 'Application'], ['eventID', '1011']] as [string, string][] }];
  const common = { facility: FACILITIES.local4, severity: 5, timestamp: rfcTime, hostname: 'mymachine.example.com', appName: 'evntslog', msgId: 'ID47' };
  assert.equal(
    formatSyslog({ ...common, structuredData: sd, msg: 'An application event log entry...', bom: 'always' }).bytes.toString(),
    `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
  );
  assert.equal(
    formatSyslog({ ...common, structuredData: [...sd, { id: 'examplePriority@32473', params: [['class', 'high']] }] }).bytes.toString(),
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
  );
});

test('SD-PARAM values escape exactly ", \\ and ] (RFC 5424 6.3.3), and a receiver reads them back', () => {
  assert.equal(escapeSdValue('a"b\\c]d[e=f'), 'a\\"b\\\\c\\]d[e=f');
  const value = 'he said "hi" \\ [x] ]';
  const parsed = parseSyslog(formatSyslog({ facility: 1, severity: 6, structuredData: [{ id: 'x@32473', params: [['v', value]] }] }).bytes);
  assert.deepEqual(parsed.sd, [{ id: 'x@32473', params: { v: value } }]);
  assert.throws(() => formatSyslog({ facility: 1, severity: 6, structuredData: [{ id: 'bad id', params: [] }] }), /SD-NAME/);
  assert.throws(() => formatSyslog({ facility: 1, severity: 6, structuredData: [{ id: 'x@abc', params: [] }] }), /SD-ID/);
  assert.throws(() => formatSyslog({ facility: 1, severity: 6, structuredData: [{ id: 'x', params: [['a=b', '1']] }] }), /SD-NAME/);
});

test('PRI, NILVALUEs and header fields restricted to PRINTUSASCII with their maximum lengths', () => {
  assert.equal(formatSyslog({ facility: 0, severity: 0 }).bytes.toString(), '<0>1 - - - - - -');
  assert.equal(formatSyslog({ facility: 23, severity: 7 }).bytes.toString(), '<191>1 - - - - - -');
  assert.throws(() => formatSyslog({ facility: 24, severity: 0 }), /facility/);
  assert.throws(() => formatSyslog({ facility: 0, severity: 8 }), /severity/);
  const p = parseSyslog(formatSyslog({ facility: 1, severity: 1, timestamp: new Date('nope'), hostname: 'my host', appName: 'a'.repeat(60), procId: '', msgId: 'é'.repeat(40) }).bytes);
  assert.equal(p.timestamp, '-');
  assert.equal(p.hostname, 'my_host');
  assert.equal(p.appName, 'a'.repeat(48));
  assert.equal(p.procId, '-');
  assert.equal(p.msgId, '_'.repeat(32));
});

test('BOM: only before a MSG that is not plain ASCII (auto), always on request', () => {
  const ascii = formatSyslog({ facility: 1, severity: 5, msg: 'CEF:0|plain' }).bytes;
  assert.ok(!ascii.includes(Buffer.from([0xef, 0xbb, 0xbf])));
  const utf8 = parseSyslog(formatSyslog({ facility: 1, severity: 5, msg: 'Zürich' }).bytes);
  assert.equal(utf8.bom, true);
  assert.equal(utf8.msg, 'Zürich');
  assert.equal(parseSyslog(formatSyslog({ facility: 1, severity: 5, msg: 'x', bom: 'always' }).bytes).bom, true);
});

test('utf8Prefix never cuts inside a character', () => {
  const b = Buffer.from('aé€😀', 'utf8'); // 1 + 2 + 3 + 4 octets
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => utf8Prefix(b, n).toString()), ['', 'a', 'a', 'aé', 'aé', 'aé', 'aé€', 'aé€', 'aé€', 'aé€', 'aé€😀']);
});

test('a Suture event: PRI from facility and severity, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, SD and CEF', () => {
  const e = sampleEvent({ type: 'refused', severity: 'critical', reason: 'traced', at: '2026-03-01T12:00:00+02:00', patchId: 'SUT-2026-0001' });
  const { bytes, truncatedFrom } = sutureEventToSyslog(e, { productVersion: '0.1.0', procId: '1234', facility: FACILITIES.local0 });
  assert.equal(truncatedFrom, undefined);
  const p = parseSyslog(bytes);
  assert.equal(cefSeverity(e), 8);
  assert.equal(p.pri, 16 * 8 + 3, 'local0, error (CEF 8)');
  assert.deepEqual(
    { version: p.version, timestamp: p.timestamp, hostname: p.hostname, appName: p.appName, procId: p.procId, msgId: p.msgId, bom: p.bom },
    { version: '1', timestamp: '2026-03-01T10:00:00.000Z', hostname: 'web-01.example.com', appName: 'suture', procId: '1234', msgId: 'refused', bom: false },
  );
  assert.deepEqual(p.sd, [{ id: 'suture@32473', params: { seq: '42', eventId: e.id, agentId: e.agentId, patchId: 'SUT-2026-0001' } }]);
  const cef = parseCef(p.msg!);
  assert.equal(cef.signatureId, '210');
  assert.equal(cef.ext.reason, 'traced');
});

test('syslog severity follows CEF severity; the enterprise number and fallback hostname are configurable', () => {
  assert.deepEqual([0, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(syslogSeverity), [6, 6, 5, 5, 4, 4, 3, 3, 2, 2]);
  const p = parseSyslog(sutureEventToSyslog(sampleEvent({ hostname: null }), { productVersion: '1', enterpriseId: '99999.1', fallbackHostname: 'suture-server' }).bytes);
  assert.equal(p.sd[0]!.id, 'suture@99999.1');
  assert.equal(p.hostname, 'suture-server');
  assert.equal(p.procId, '-');
});

test('a message over the cap is cut in the detail, says so in SD, stays valid UTF-8 and readable CEF', () => {
  const detail = `${'é\\='.repeat(700)}END`; // multi-octet characters and escapes all the way
  const e = sampleEvent({ type: 'failed', detail });
  const whole = sutureEventToSyslog(e, { productVersion: '1' });
  for (const cap of [1024, 1025, 1026, 1027, 2048]) {
    const { bytes, truncatedFrom } = sutureEventToSyslog(e, { productVersion: '1', maxBytes: cap });
    assert.ok(bytes.length <= cap, `${bytes.length} <= ${cap}`);
    assert.equal(truncatedFrom, whole.bytes.length);
    assert.equal(Buffer.from(bytes.toString('utf8'), 'utf8').compare(bytes), 0, 'valid UTF-8');
    const p = parseSyslog(bytes);
    assert.equal(p.sd[0]!.params.truncated, String(whole.bytes.length));
    assert.equal(p.bom, true);
    const cef = parseCef(p.msg!);
    assert.ok(detail.startsWith(cef.ext.msg!), 'the detail is a prefix of the original');
    assert.ok(cef.ext.msg!.length > 100);
    assert.equal(cef.ext.cs1, e.patchId);
    assert.ok(!/(^|[^\\])(\\\\)*\\$/.test(p.msg!), 'no dangling escape at the end');
  }
  assert.equal(sutureEventToSyslog(sampleEvent(), { productVersion: '1', maxBytes: 2048 }).truncatedFrom, undefined);
});
