/**
 * Fail closed: a time that does not parse, or a clock reading that is not a valid date, counts
 * as expired. (`NaN <= now` is false, so the naive comparison would make such a document
 * immortal.)
 */
export function isExpired(iso: string, now: Date): boolean {
  const t = Date.parse(iso);
  const n = now instanceof Date ? now.getTime() : Number.NaN;
  return !(Number.isFinite(t) && Number.isFinite(n) && t > n);
}

/** Whether `Date.parse` can read a string the schema accepted (RFC 3339 allows e.g. leap seconds). */
export const isReadableTime = (iso: string): boolean => Number.isFinite(Date.parse(iso));
