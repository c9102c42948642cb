import type { RoleKeys } from '../schemas/root.ts';
import type { Static } from 'typebox';
import { isoMs, parseEnvelope, refuse } from './document-parse.ts';
import { checkThreshold } from './threshold.ts';
import { DEFAULT_LIMITS, type Limits, type Result, type TrustState } from './types.ts';

const sameRole = (a: Static<typeof RoleKeys>, b: Static<typeof RoleKeys>) =>
  a.threshold === b.threshold && [...a.keyids].sort().join() === [...b.keyids].sort().join();

/** Pins the first root (trust on first use at enrollment): self-signed by its threshold, unexpired. */
export function pinRoot(opts: { bytes: Uint8Array; now: Date; limits?: Partial<Limits> }): Result<TrustState> {
  const parsed = parseEnvelope(opts.bytes, 'root', opts.limits);
  if (!parsed.ok) return parsed;
  const sig = checkThreshold({ envelope: parsed.value.envelope, root: parsed.value.document, role: 'root' });
  if (!sig.ok) return sig;
  if (isoMs(parsed.value.document.expires) <= opts.now.getTime()) return refuse('expired', `root v${parsed.value.document.version} expired ${parsed.value.document.expires}`);
  return { ok: true, value: { root: parsed.value, manifests: {}, releases: {} } };
}

/**
 * TUF root chain: N -> N+1 -> ..., each signed by a threshold of the previous root's root keys
 * and of its own. Intermediate roots may have expired; the last may not. When the online or
 * publisher role changes, the stored versions signed by the old keys are dropped so that a
 * compromised, rotated-out key cannot freeze the agent at a huge version (fast-forward recovery).
 */
export function updateRoot(opts: { state: TrustState; roots: Uint8Array[]; now: Date; limits?: Partial<Limits> }): Result<TrustState> {
  const max = { ...DEFAULT_LIMITS, ...opts.limits }.maxRootRotations;
  if (opts.roots.length > max) return refuse('too-many-rotations', `${opts.roots.length} root rotations in one update, at most ${max}`);
  let current = opts.state.root;
  const first = current.document;
  for (const bytes of opts.roots) {
    const parsed = parseEnvelope(bytes, 'root', opts.limits);
    if (!parsed.ok) return parsed;
    const next = parsed.value;
    const v = next.document.version;
    const cv = current.document.version;
    if (v === cv) {
      if (next.sha256 === current.sha256) continue;
      return refuse('version-conflict', `root v${v} differs from the trusted root v${cv} with the same version`);
    }
    if (v < cv) return refuse('rollback', `root v${v} is older than the trusted v${cv}`);
    if (v !== cv + 1) return refuse('non-consecutive-root', `root v${v} does not follow v${cv}`);
    const byOld = checkThreshold({ envelope: next.envelope, root: current.document, role: 'root' });
    if (!byOld.ok) return refuse('threshold-not-met', `root v${v} by the v${cv} root keys: ${byOld.detail}`);
    const byNew = checkThreshold({ envelope: next.envelope, root: next.document, role: 'root' });
    if (!byNew.ok) return refuse('threshold-not-met', `root v${v} by its own root keys: ${byNew.detail}`);
    current = next;
  }
  if (isoMs(current.document.expires) <= opts.now.getTime())
    return refuse('expired', `root v${current.document.version} expired ${current.document.expires}`);
  const last = current.document;
  return {
    ok: true,
    value: {
      root: current,
      manifests: sameRole(first.roles.online, last.roles.online) ? opts.state.manifests : {},
      releases: sameRole(first.roles.publisher, last.roles.publisher) ? opts.state.releases : {},
    },
  };
}
