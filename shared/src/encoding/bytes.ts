import { createHash } from 'node:crypto';

const encoder = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD. ignoreBOM: a leading BOM stays in the
// text (and then fails JSON.parse) instead of being silently dropped, which would let two
// different byte strings decode to the same document.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const utf8 = {
  encode: (s: string): Uint8Array => encoder.encode(s),
  decode: (b: Uint8Array): string => decoder.decode(b),
};

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('not a hex string');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Strict: refuses anything that does not round-trip (Buffer.from silently skips junk). */
export function fromBase64(s: string): Uint8Array {
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw new TypeError('not canonical base64');
  return new Uint8Array(b);
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
