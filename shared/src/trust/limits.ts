import { DEFAULT_LIMITS, type Limits } from './types.ts';

/**
 * Overrides that are not finite non-negative numbers fall back to the default: a plain spread
 * would let `{ patchBytes: undefined }` or NaN switch a size cap off, because `n > NaN` is false.
 */
export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  const out = { ...DEFAULT_LIMITS };
  if (typeof overrides !== 'object' || overrides === null) return out;
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = overrides[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  }
  return out;
}
