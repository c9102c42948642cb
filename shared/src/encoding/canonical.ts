/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, integers only (safe
 * range), strings escaped as JSON.stringify does. Two parties that build the same document get
 * the same bytes, so a document hash is stable and "same version, different bytes" is
 * detectable. Floats, NaN, -0, undefined, sparse arrays and non-plain objects are refused: each
 * either has no JSON form or would encode the same as a different value.
 */
export class CanonicalError extends Error {}

export function canonicalize(value: unknown): string {
  return enc(value, 0);
}

export function canonicalBytes(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(canonicalize(value));
}

function enc(v: unknown, depth: number): string {
  if (depth > 64) throw new CanonicalError('nesting deeper than 64');
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isSafeInteger(v)) throw new CanonicalError(`number ${v} is not a safe integer`);
      if (Object.is(v, -0)) throw new CanonicalError('-0 would encode the same as 0');
      return String(v);
    case 'object': {
      // Array.from turns holes into undefined (refused); map() would skip them and emit "[,1]".
      if (Array.isArray(v)) return `[${Array.from(v, (x) => enc(x, depth + 1)).join(',')}]`;
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new CanonicalError('only plain objects can be encoded');
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${enc(x, depth + 1)}`).join(',')}}`;
    }
    default:
      throw new CanonicalError(`cannot encode a ${typeof v}`);
  }
}
