import { sha256Hex } from '../encoding/index.ts';
import type { ManifestDocument, PatchDocument, RootDocument } from '../schemas/index.ts';
import { parseEnvelope } from './document-parse.ts';
import { isExpired } from './expiry.ts';
import { resolveLimits } from './limits.ts';
import { refuse, refusalFromException } from './refusal.ts';
import { updateRoot } from './root-rotation.ts';
import { checkThreshold } from './threshold.ts';
import type { Limits, Result, TrustState, UpdateInput, UpdateOutput, VerifiedEnvelope } from './types.ts';

/** What the server runs on upload: a well-formed patch signed by a threshold of publisher keys. */
export function verifyPublishedPatch(opts: { root: RootDocument; bytes: Uint8Array; limits?: Partial<Limits> }): Result<VerifiedEnvelope<PatchDocument>> {
  try {
    const parsed = parseEnvelope(opts.bytes, 'patch', opts.limits);
    if (!parsed.ok) return parsed;
    const sig = checkThreshold({ envelope: parsed.value.envelope, root: opts.root, role: 'publisher' });
    if (!sig.ok) return sig;
    return parsed;
  } catch (err) {
    return refusalFromException(err);
  }
}

/**
 * Every check an agent makes before anything touches memory, in order, against one clock
 * reading. Pure: returns the state to persist only when the whole update passed, and never
 * modifies the state it was given.
 */
export function verifyUpdate(input: UpdateInput): Result<UpdateOutput> {
  try {
    return verify(input);
  } catch (err) {
    return refusalFromException(err);
  }
}

function verify(input: UpdateInput): Result<UpdateOutput> {
  const limits = resolveLimits(input.limits);
  const now = input.now;
  const mapped = input.mappedModuleSha256;
  const roots = input.roots ?? [];
  // Size caps first, before any parsing at all.
  for (const r of roots) if (r.length > limits.rootBytes) return refuse('too-large', `root is ${r.length} bytes, over ${limits.rootBytes}`);
  if (input.manifest.length > limits.manifestBytes) return refuse('too-large', `manifest is ${input.manifest.length} bytes, over ${limits.manifestBytes}`);
  for (const p of input.patches) if (p.length > limits.patchBytes) return refuse('too-large', `patch is ${p.length} bytes, over ${limits.patchBytes}`);

  let state: TrustState = input.state;
  if (roots.length > 0) {
    const rotated = updateRoot({ state, roots, now, limits });
    if (!rotated.ok) return rotated;
    state = rotated.value;
  } else if (isExpired(state.root.document.expires, now)) {
    return refuse('expired', `trusted root v${state.root.document.version} expired ${state.root.document.expires}`);
  }
  const root = state.root.document;

  const m = parseEnvelope(input.manifest, 'manifest', limits);
  if (!m.ok) return refuse(m.reason, `manifest: ${m.detail}`);
  const ms = checkThreshold({ envelope: m.value.envelope, root, role: 'online' });
  if (!ms.ok) return refuse(ms.reason, `manifest: ${ms.detail}`);
  const manifest: ManifestDocument = m.value.document;
  if (manifest.module !== mapped) return refuse('wrong-module', `manifest is for module ${manifest.module}, the mapped module is ${mapped}`);
  if (isExpired(manifest.expires, now)) return refuse('expired', `manifest v${manifest.version} expired ${manifest.expires}`);
  // The stored copy counts even when it has expired: expiry limits freshness, not rollback.
  const stored = Object.hasOwn(state.manifests, mapped) ? state.manifests[mapped] : undefined;
  if (stored) {
    if (manifest.version < stored.version) return refuse('rollback', `manifest v${manifest.version} is older than the accepted v${stored.version}`);
    if (manifest.version === stored.version && m.value.sha256 !== stored.sha256)
      return refuse('version-conflict', `manifest v${manifest.version} differs from the accepted one with the same version`);
  }

  const releases = { ...state.releases };
  const patches: VerifiedEnvelope<PatchDocument>[] = [];
  for (const bytes of input.patches) {
    const r = verifyPatch({ bytes, manifest, root, mapped, releases, limits });
    if (!r.ok) return r;
    releases[`${mapped}/${r.value.document.id}`] = { release: r.value.document.release, sha256: r.value.sha256 };
    patches.push(r.value);
  }

  return {
    ok: true,
    value: {
      state: {
        root: state.root,
        manifests: { ...state.manifests, [mapped]: { version: manifest.version, expires: manifest.expires, sha256: m.value.sha256 } },
        releases,
      },
      manifest: m.value,
      patches,
    },
  };
}

function verifyPatch(opts: {
  bytes: Uint8Array;
  manifest: ManifestDocument;
  root: RootDocument;
  mapped: string;
  releases: TrustState['releases'];
  limits: Limits;
}): Result<VerifiedEnvelope<PatchDocument>> {
  const { bytes, manifest, mapped } = opts;
  // The manifest binds bytes (length + sha256) before anything in them is trusted.
  const sha = sha256Hex(bytes);
  const named = manifest.patches.filter((e) => e.sha256 === sha && e.length === bytes.length);
  if (named.length === 0) {
    // Only to pick the reason: the id comes from unverified bytes and is used for nothing else.
    const unverified = parseEnvelope(bytes, 'patch', opts.limits);
    const id = unverified.ok ? unverified.value.document.id : undefined;
    if (id !== undefined && manifest.patches.some((e) => e.id === id))
      return refuse('hash-mismatch', `patch ${id} does not match the length and sha256 the manifest names`);
    return refuse('not-in-manifest', `patch ${id ?? sha} is not named by the manifest`);
  }
  const p = parseEnvelope(bytes, 'patch', opts.limits);
  if (!p.ok) return refuse(p.reason, `patch ${named[0]!.id}: ${p.detail}`);
  const ps = checkThreshold({ envelope: p.value.envelope, root: opts.root, role: 'publisher' });
  if (!ps.ok) return refuse(ps.reason, `patch ${named[0]!.id}: ${ps.detail}`);
  const doc = p.value.document;
  if (doc.module.sha256 !== mapped) return refuse('wrong-module', `patch ${doc.id} is for module ${doc.module.sha256}, the mapped module is ${mapped}`);
  // The signed document must be the one the manifest says these bytes are.
  if (!named.some((e) => e.id === doc.id && e.release === doc.release))
    return refuse('hash-mismatch', `patch ${doc.id} r${doc.release} is named as ${named[0]!.id} r${named[0]!.release} by the manifest`);
  const key = `${mapped}/${doc.id}`;
  const prev = Object.hasOwn(opts.releases, key) ? opts.releases[key] : undefined;
  if (prev) {
    if (doc.release < prev.release) return refuse('release-rollback', `patch ${doc.id} release ${doc.release} is older than the accepted ${prev.release}`);
    if (doc.release === prev.release && prev.sha256 !== p.value.sha256)
      return refuse('release-conflict', `patch ${doc.id} release ${doc.release} differs from the accepted one`);
  }
  return p;
}
