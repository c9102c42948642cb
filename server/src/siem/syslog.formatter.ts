import { cefSeverity, sutureEventToCef } from './cef.formatter.ts';
import type { SiemEvent } from './siem-event.schema.ts';

/**
 * RFC 5424 messages:
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]`.
 */

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type FacilityName = keyof typeof FACILITIES;

export interface SdElement {
  /** `name` for IANA-registered ids, otherwise `name@<private enterprise number>`. */
  id: string;
  params: [name: string, value: string][];
}

export interface SyslogRecord {
  facility: number;
  /** 0 emergency ... 7 debug. */
  severity: number;
  /** Written as RFC 3339 in UTC with milliseconds; undefined or invalid gives the NILVALUE. */
  timestamp?: Date | undefined;
  hostname?: string | undefined;
  appName?: string | undefined;
  procId?: string | undefined;
  msgId?: string | undefined;
  structuredData?: SdElement[];
  msg?: string | undefined;
  /** 'auto' (default): a BOM only when MSG is not plain ASCII (RFC 5424 6.4: MSG-UTF8 starts with one). */
  bom?: 'auto' | 'always';
  /** Cap on the whole message in octets; MSG is cut (never inside a UTF-8 sequence) to fit. */
  maxBytes?: number;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Header fields are PRINTUSASCII (33-126) with a maximum length; anything else becomes `_`, empty the NILVALUE. */
function headerField(value: string | undefined, max: number): string {
  if (value === undefined || value === '') return '-';
  return value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
}

const SD_NAME = /^[\x21-\x7e]{1,32}$/;
function checkSdName(name: string): void {
  if (!SD_NAME.test(name) || /[= \]"]/.test(name)) throw new RangeError(`invalid SD-NAME: ${name}`);
}

/** PARAM-VALUE: `"`, `\` and `]` MUST be escaped with a backslash (RFC 5424 6.3.3); nothing else is. */
export function escapeSdValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

export function formatStructuredData(elements: SdElement[] | undefined): string {
  if (!elements || elements.length === 0) return '-';
  return elements
    .map((el) => {
      const [name, pen] = el.id.split('@');
      checkSdName(name ?? '');
      if (pen !== undefined && !/^[0-9]+(\.[0-9]+)*$/.test(pen)) throw new RangeError(`invalid SD-ID: ${el.id}`);
      const params = el.params.map(([n, v]) => (checkSdName(n), ` ${n}="${escapeSdValue(v)}"`));
      return `[${el.id}${params.join('')}]`;
    })
    .join('');
}

function timestamp(d: Date | undefined): string {
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : '-';
}

/** The longest prefix of `buf` that fits in `max` bytes and ends on a UTF-8 character boundary. */
export function utf8Prefix(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = Math.max(0, max);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // buf[end] is a continuation byte: back to its lead
  return buf.subarray(0, end);
}

export interface FormattedSyslog {
  bytes: Buffer;
  /** The size before the cut, when MSG was cut to fit `maxBytes`. */
  truncatedFrom?: number;
}

export function formatSyslog(r: SyslogRecord): FormattedSyslog {
  if (!Number.isInteger(r.facility) || r.facility < 0 || r.facility > 23) throw new RangeError(`facility must be 0-23, not ${r.facility}`);
  if (!Number.isInteger(r.severity) || r.severity < 0 || r.severity > 7) throw new RangeError(`severity must be 0-7, not ${r.severity}`);
  const header = [
    `<${r.facility * 8 + r.severity}>1`,
    timestamp(r.timestamp),
    headerField(r.hostname, 255),
    headerField(r.appName, 48),
    headerField(r.procId, 128),
    headerField(r.msgId, 32),
    formatStructuredData(r.structuredData),
  ].join(' ');
  const head = Buffer.from(header, 'utf8');
  if (r.msg === undefined || r.msg === '') return { bytes: head };
  const msg = Buffer.from(r.msg, 'utf8');
  const bom = r.bom === 'always' || msg.length !== r.msg.length ? BOM : Buffer.alloc(0);
  const full = Buffer.concat([head, Buffer.from(' '), bom, msg]);
  if (r.maxBytes === undefined || full.length <= r.maxBytes) return { bytes: full };
  const room = r.maxBytes - head.length - 1 - bom.length;
  if (room < 0) throw new RangeError(`maxBytes ${r.maxBytes} leaves no room for MSG after a ${head.length}-octet header`);
  return { bytes: Buffer.concat([head, Buffer.from(' '), bom, utf8Prefix(msg, room)]), truncatedFrom: full.length };
}

/** CEF severity (0-10) to syslog severity. */
export function syslogSeverity(cef: number): number {
  if (cef >= 9) return 2; // critical
  if (cef >= 7) return 3; // error
  if (cef >= 5) return 4; // warning
  if (cef >= 3) return 5; // notice
  return 6; // informational
}

/** RFC 5612's example enterprise number, until Suture has one of its own: override it. */
export const DEFAULT_ENTERPRISE_ID = '32473';

export interface SutureSyslogOptions {
  productVersion: string;
  facility?: number;
  /** The SD-ID is `suture@<enterpriseId>`. */
  enterpriseId?: string;
  /** HOSTNAME when the event has none (the server's own name); `-` when neither is known. */
  fallbackHostname?: string;
  /** PROCID: the sending server process. */
  procId?: string;
  maxBytes?: number;
  bom?: 'auto' | 'always';
}

/**
 * One Suture event as RFC 5424 with CEF as MSG. HOSTNAME is the endpoint that reported the
 * event (RFC 5424 6.2.4: the originator), MSGID the event type, TIMESTAMP the agent's time of
 * the event. A message over `maxBytes` is cut at the end of the CEF (the detail goes first) and
 * says so: `truncated="<original octets>"` in the SD element.
 */
export function sutureEventToSyslog(e: SiemEvent, opts: SutureSyslogOptions): FormattedSyslog {
  const sd = (extra: [string, string][]): SdElement[] => [
    {
      id: `suture@${opts.enterpriseId ?? DEFAULT_ENTERPRISE_ID}`,
      params: [
        ['seq', e.seq],
        ['eventId', e.id],
        ['agentId', e.agentId],
        ['patchId', e.patchId],
        ...extra,
      ],
    },
  ];
  const record: SyslogRecord = {
    facility: opts.facility ?? FACILITIES.local0,
    severity: syslogSeverity(cefSeverity(e)),
    timestamp: new Date(e.at),
    hostname: e.hostname ?? opts.fallbackHostname,
    appName: 'suture',
    procId: opts.procId,
    msgId: e.type,
    msg: sutureEventToCef(e, { productVersion: opts.productVersion }),
    bom: opts.bom ?? 'auto',
  };
  const whole = formatSyslog({ ...record, structuredData: sd([]) });
  if (opts.maxBytes === undefined || whole.bytes.length <= opts.maxBytes) return whole;
  const cut = formatSyslog({ ...record, structuredData: sd([['truncated', String(whole.bytes.length)]]), maxBytes: opts.maxBytes });
  return { bytes: dropDanglingEscape(cut.bytes), truncatedFrom: whole.bytes.length };
}

/** A cut right after an escaping backslash would escape nothing: drop that backslash. */
function dropDanglingEscape(buf: Buffer): Buffer {
  let n = 0;
  while (n < buf.length && buf[buf.length - 1 - n] === 0x5c) n++;
  return n % 2 === 1 ? buf.subarray(0, buf.length - 1) : buf;
}
