import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'suture-signature';

/** HMAC-SHA256 over `<timestamp>.<raw body>`, hex. The timestamp is inside the MAC, so it cannot be replaced. */
export function computeSignature(opts: { secret: string; timestamp: number; body: string | Buffer }): string {
  return createHmac('sha256', opts.secret).update(`${opts.timestamp}.`).update(opts.body).digest('hex');
}

export function signatureHeader(opts: { secret: string; timestamp: number; body: string | Buffer }): string {
  return `t=${opts.timestamp},v1=${computeSignature(opts)}`;
}

export type VerifyResult =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'missing-header' | 'malformed-header' | 'timestamp-out-of-tolerance' | 'no-matching-signature' };

export interface VerifyOptions {
  /** The header's value as received. */
  header: string | string[] | null | undefined;
  /** The raw body bytes exactly as received: verify before parsing the JSON. */
  body: string | Buffer;
  /** One secret, or several while rotating (any may match). */
  secrets: string | readonly string[];
  /** Reject signatures older (or newer) than this; replays outside the window fail. Default 300. */
  toleranceSeconds?: number;
  nowSeconds?: number;
}

/**
 * For receivers: checks a `Suture-Signature` header. Every `v1` entry is tried against every
 * secret in constant time; unknown schemes (v0, v2...) are ignored, so a future scheme can be
 * sent alongside v1.
 */
export function verifyWebhookSignature(opts: VerifyOptions): VerifyResult {
  const raw = Array.isArray(opts.header) ? opts.header[0] : opts.header;
  if (!raw) return { ok: false, reason: 'missing-header' };
  let timestamp: number | undefined;
  const v1: Buffer[] = [];
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) return { ok: false, reason: 'malformed-header' };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value) || timestamp !== undefined) return { ok: false, reason: 'malformed-header' };
      timestamp = Number(value);
    } else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) v1.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || v1.length === 0) return { ok: false, reason: 'malformed-header' };
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (opts.toleranceSeconds ?? 300)) return { ok: false, reason: 'timestamp-out-of-tolerance' };
  const secrets = typeof opts.secrets === 'string' ? [opts.secrets] : opts.secrets;
  let match = false;
  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature({ secret, timestamp, body: opts.body }), 'hex');
    for (const sig of v1) match = timingSafeEqual(expected, sig) || match; // no early exit: same time whichever matches
  }
  return match ? { ok: true, timestamp } : { ok: false, reason: 'no-matching-signature' };
}
