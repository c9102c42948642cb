import type { RootDocument } from '../schemas/index.ts';
import { parseEnvelope } from './document-parse.ts';
import { isExpired } from './expiry.ts';
import { resolveLimits } from './limits.ts';
import { refuse, refusalFromException } from './refusal.ts';
import { checkThreshold } from './threshold.ts';
import type { Limits, Result, TrustState } from './types.ts';

type RoleKeys = RootDocument['roles']['online'];

const sameRole = (a: RoleKeys, b: RoleKeys) => a.threshold === b.threshold && [...a.keyids].sort().join() === [...b.keyids].sort().join();

/** Pins the first root (trust on first use at enrollment): self-signed by its threshold, unexpired. */
export function pinRoot(opts: { bytes: Uint8Array; now: Date; limits?: Partial<Limits> }): Result<TrustState> {
  try {
    const parsed = parseEnvelope(opts.bytes, 'root', opts.limits);
    if (!parsed.ok) return parsed;
    const doc = parsed.value.document;
    const sig = checkThreshold({ envelope: parsed.value.envelope, root: doc, role: 'root' });
    if (!sig.ok) return sig;
    if (isExpired(doc.expires, opts.now)) return refuse('expired', `root v${doc.version} expired ${doc.expires}`);
    return { ok: true, value: { root: parsed.value, manifests: {}, releases: {} } };
  } catch (err) {
    return refusalFromException(err);
  }
}

/**
 * TUF root chain: N -> N+1 -> ..., each signed by a threshold of the previous root's root keys
 * and of its own. Intermediate roots may have expired; the last may not. When the online or
 * publisher role changes anywhere along the chain, the stored versions signed under the old
 * role are dropped so that a compromised, rotated-out key cannot freeze the agent at a huge
 * version (fast-forward recovery). Pure: the given state is not modified.
 */
export function updateRoot(opts: { state: TrustState; roots: Uint8Array[]; now: Date; limits?: Partial<Limits> }): Result<TrustState> {
  try {
    return rotate(opts);
  } catch (err) {
    return refusalFromException(err);
  }
}

function rotate(opts: { state: TrustState; roots: Uint8Array[]; now: Date; limits?: Partial<Limits> }): Result<TrustState> {
  const limits = resolveLimits(opts.limits);
  // Before any parsing: an endless chain costs nothing to refuse.
  if (opts.roots.length > limits.maxRootRotations)
    return refuse('too-many-rotations', `${opts.roots.length} root rotations in one update, at most ${limits.maxRootRotations}`);
  let current = opts.state.root;
  let onlineChanged = false;
  let publisherChanged = false;
  for (const bytes of opts.roots) {
    const parsed = parseEnvelope(bytes, 'root', limits);
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
    if (!byOld.ok) return refuse(byOld.reason, `root v${v} by the v${cv} root keys: ${byOld.detail}`);
    const byNew = checkThreshold({ envelope: next.envelope, root: next.document, role: 'root' });
    if (!byNew.ok) return refuse(byNew.reason, `root v${v} by its own root keys: ${byNew.detail}`);
    onlineChanged ||= !sameRole(current.document.roles.online, next.document.roles.online);
    publisherChanged ||= !sameRole(current.document.roles.publisher, next.document.roles.publisher);
    current = next;
  }
  if (isExpired(current.document.expires, opts.now))
    return refuse('expired', `root v${current.document.version} expired ${current.document.expires}`);
  return {
    ok: true,
    value: {
      root: current,
      manifests: onlineChanged ? {} : opts.state.manifests,
      releases: publisherChanged ? {} : opts.state.releases,
    },
  };
}
