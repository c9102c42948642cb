import type { RefusalReason, Result } from './types.ts';

export const refuse = <T>(reason: RefusalReason, detail: string): Result<T> => ({ ok: false, reason, detail });

/** In the detail when an exported check caught an exception (possibly after a prefix); tests look for it. */
export const INTERNAL_ERROR = 'internal error';

/**
 * Last line of defence for the exported checks: they are written not to throw, but a refusal
 * must never become a crash of the agent, so anything that slips through becomes a refusal.
 */
export function refusalFromException<T>(err: unknown): Result<T> {
  return refuse('malformed', `${INTERNAL_ERROR}: ${describe(err)}`);
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable exception';
  }
}
