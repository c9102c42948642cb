import type { PatchSeverity, SiemEvent, SiemEventType } from './siem-event.schema.ts';

/**
 * ArcSight Common Event Format (CEF:0):
 * `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.
 */

// Other C0 controls and DEL have no escape in CEF and upset line-based collectors.
const OTHER_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** Header fields: `\` and `|` are escaped; a header cannot span lines, so CR/LF become spaces. */
export function escapeCefHeader(value: string): string {
  return value
    .replace(OTHER_CONTROLS, '\ufffd')
    .replace(/[\\|]/g, (c) => `\\${c}`)
    .replace(/\r\n|[\r\n]/g, ' ');
}

/** Extension values: `\` and `=` are escaped, CR and LF are written as `\r` and `\n`; `|` is not escaped. */
export function escapeCefExtension(value: string): string {
  return value
    .replace(OTHER_CONTROLS, '\ufffd')
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
}

export interface CefRecord {
  vendor: string;
  product: string;
  deviceVersion: string;
  signatureId: string;
  name: string;
  /** 0 (lowest) to 10 (highest). */
  severity: number;
  /** In order; keys are CEF keys (alphanumeric), undefined values are left out. */
  extension: [key: string, value: string | number | undefined][];
}

export function formatCef(r: CefRecord): string {
  if (!Number.isInteger(r.severity) || r.severity < 0 || r.severity > 10) throw new RangeError(`CEF severity must be 0-10, not ${r.severity}`);
  const head = ['CEF:0', r.vendor, r.product, r.deviceVersion, r.signatureId, r.name].map((f, i) => (i === 0 ? f : escapeCefHeader(f)));
  const ext = r.extension
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      if (!/^[A-Za-z0-9]+$/.test(k)) throw new RangeError(`CEF extension key must be alphanumeric: ${k}`);
      return `${k}=${escapeCefExtension(String(v))}`;
    });
  return `${head.join('|')}|${r.severity}|${ext.join(' ')}`;
}

interface TypeInfo {
  signatureId: string;
  name: string;
  severity: number;
  outcome: 'success' | 'failure';
  /** The process is (still or again) without the fix: a severe patch makes this more urgent. */
  exposed: boolean;
}

/** Signature IDs are stable: SIEM rules key on them. 1xx fixed, 2xx not fixed, 3xx crash. */
export const CEF_TYPES: Record<SiemEventType, TypeInfo> = {
  applied: { signatureId: '100', name: 'Micropatch applied', severity: 3, outcome: 'success', exposed: false },
  adopted: { signatureId: '101', name: 'Micropatch found applied', severity: 2, outcome: 'success', exposed: false },
  unapplied: { signatureId: '110', name: 'Micropatch removed', severity: 5, outcome: 'success', exposed: true },
  busy: { signatureId: '200', name: 'Micropatch deferred: process busy', severity: 4, outcome: 'failure', exposed: true },
  refused: { signatureId: '210', name: 'Micropatch refused', severity: 6, outcome: 'failure', exposed: true },
  failed: { signatureId: '220', name: 'Micropatch failed', severity: 7, outcome: 'failure', exposed: true },
  crash: { signatureId: '300', name: 'Patched process crashed', severity: 8, outcome: 'failure', exposed: true },
};

const SEVERITY_BUMP: Record<PatchSeverity, number> = { low: 0, medium: 0, high: 1, critical: 2 };

/** The event's CEF severity: by type, raised for a high or critical patch left out of a process. */
export function cefSeverity(e: Pick<SiemEvent, 'type' | 'severity'>): number {
  const t = CEF_TYPES[e.type];
  const bump = t.exposed && e.severity ? SEVERITY_BUMP[e.severity] : 0;
  return Math.min(10, t.severity + bump);
}

export interface SutureCefOptions {
  /** Device Version: the server's version. */
  productVersion: string;
}

function epochMs(iso: string | undefined | null): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A custom field and its label, or nothing when there is no value. */
const labelled = (n: string, name: string, v: string | number | null | undefined): [string, string | number][] =>
  v === undefined || v === null || v === '' ? [] : [[`${n}Label`, name], [n, v]];

/**
 * One Suture event as CEF. `msg` (the free-text detail) comes last, so a size cap that cuts the
 * end of the message cuts the detail first and keeps every identifying field.
 */
export function sutureEventToCef(e: SiemEvent, opts: SutureCefOptions): string {
  const t = CEF_TYPES[e.type];
  if (!t) throw new RangeError(`unknown event type: ${String(e.type)}`);
  return formatCef({
    vendor: 'Suture',
    product: 'Suture',
    deviceVersion: opts.productVersion,
    signatureId: t.signatureId,
    name: t.name,
    severity: cefSeverity(e),
    extension: [
      ['rt', epochMs(e.at)],
      ['act', e.type],
      ['outcome', t.outcome],
      ['externalId', e.id],
      ['deviceExternalId', e.agentId],
      ['dvchost', e.hostname ?? undefined],
      ['dpid', e.pid],
      ['cn1Label', 'seq'],
      ['cn1', e.seq],
      ...labelled('cs1', 'patchId', e.patchId),
      ...labelled('cs2', 'cves', e.cves?.join(',')),
      ...labelled('cs3', 'group', e.group),
      ...labelled('cs4', 'commandId', e.commandId),
      ...labelled('cs5', 'patchSeverity', e.severity),
      ...labelled('deviceCustomDate1', 'receivedAt', epochMs(e.receivedAt)),
      ['reason', e.reason ?? undefined],
      ['msg', e.detail ?? undefined],
    ],
  });
}
