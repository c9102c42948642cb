import { sha256Hex } from '../encoding/index.ts';
import type { ManifestDocument, PatchDocument, RootDocument } from '../schemas/index.ts';
import { isoMs, parseEnvelope, refuse } from './document-parse.ts';
import { updateRoot } from './root-rotation.ts';
import { checkThreshold } from './threshold.ts';
import { DEFAULT_LIMITS, type Limits, type Result, type TrustState, type UpdateInput, type UpdateOutput, type VerifiedEnvelope } from './types.ts';

/** What the server runs on upload: a well-formed patch signed by a threshold of publisher keys. */
export function verifyPublishedPatch(opts: { root: RootDocument; bytes: Uint8Array; limits?: Partial<Limits> }): Result<VerifiedEnvelope<PatchDocument>> {
  const parsed = parseEnvelope(opts.bytes, 'patch', opts.limits);
  if (!parsed.ok) return parsed;
  const sig = checkThreshold({ envelope: parsed.value.envelope, root: opts.root, role: 'publisher' });
  if (!sig.ok) return sig;
  return parsed;
}

/**
 * Every check an agent makes before anything touches memory, in order, against one clock
 * reading. Pure: returns the state to persist only when the whole update passed.
 */
export function verifyUpdate(input: UpdateInput): Result<UpdateOutput> {
  try {
    return verify(input);
  } catch (err) {
    // Defence in depth: the checks below do not throw, but a refusal must never become a crash.
    return refuse('malformed', `unexpected input: ${(err as Error).message}`);
  }
}

function verify(input: UpdateInput): Result<UpdateOutput> {
  const limits = { ...DEFAULT_LIMITS, ...input.limits };
  const now = input.now.getTime();
  const mapped = input.mappedModuleSha256;
  // Size caps first, before any parsing at all.
  for (const r of input.roots ?? []) if (r.length > limits.rootBytes) return refuse('too-large', `root is ${r.length} bytes, over ${limits.rootBytes}`);
  if (input.manifest.length > limits.manifestBytes) return refuse('too-large', `manifest is ${input.manifest.length} bytes, over ${limits.manifestBytes}`);
  for (const p of input.patches) if (p.length > limits.patchBytes) return refuse('too-large', `patch is ${p.length} bytes, over ${limits.patchBytes}`);

  let state: TrustState = input.state;
  if (input.roots?.length) {
    const rotated = updateRoot({ state, roots: input.roots, now: input.now, limits });
    if (!rotated.ok) return rotated;
    state = rotated.value;
  } else if (isoMs(state.root.document.expires) <= now) {
    return refuse('expired', `trusted root v${state.root.document.version} expired ${state.root.document.expires}`);
  }
  const root = state.root.document;

  const m = parseEnvelope(input.manifest, 'manifest', limits);
  if (!m.ok) return m;
  const ms = checkThreshold({ envelope: m.value.envelope, root, role: 'online' });
  if (!ms.ok) return refuse(ms.reason, `manifest: ${ms.detail}`);
  const manifest: ManifestDocument = m.value.document;
  if (manifest.module !== mapped) return refuse('wrong-module', `manifest is for module ${manifest.module}, the mapped module is ${mapped}`);
  if (isoMs(manifest.expires) <= now) return refuse('expired', `manifest v${manifest.version} expired ${manifest.expires}`);
  const stored = state.manifests[mapped];
  if (stored) {
    if (manifest.version < stored.version) return refuse('rollback', `manifest v${manifest.version} is older than the accepted v${stored.version}`);
    if (manifest.version === stored.version && m.value.sha256 !== stored.sha256)
      return refuse('version-conflict', `manifest v${manifest.version} differs from the accepted one with the same version`);
  }

  const releases = { ...state.releases };
  const patches: VerifiedEnvelope<PatchDocument>[] = [];
  for (const bytes of input.patches) {
    const sha = sha256Hex(bytes);
    const entry = manifest.patches.find((e) => e.sha256 === sha && e.length === bytes.length);
    if (!entry) {
      const parsedId = parseEnvelope(bytes, 'patch', limits);
      const id = parsedId.ok ? parsedId.value.document.id : undefined;
      if (id && manifest.patches.some((e) => e.id === id))
        return refuse('hash-mismatch', `patch ${id} does not match the length and sha256 the manifest names`);
      return refuse('not-in-manifest', `patch ${id ?? sha} is not named by the manifest`);
    }
    const p = parseEnvelope(bytes, 'patch', limits);
    if (!p.ok) return p;
    const ps = checkThreshold({ envelope: p.value.envelope, root, role: 'publisher' });
    if (!ps.ok) return refuse(ps.reason, `patch ${entry.id}: ${ps.detail}`);
    const doc = p.value.document;
    if (doc.module.sha256 !== mapped) return refuse('wrong-module', `patch ${doc.id} is for module ${doc.module.sha256}, the mapped module is ${mapped}`);
    if (doc.id !== entry.id || doc.release !== entry.release)
      return refuse('hash-mismatch', `patch ${doc.id} r${doc.release} is named as ${entry.id} r${entry.release} by the manifest`);
    const key = `${mapped}/${doc.id}`;
    const prev = releases[key];
    if (prev) {
      if (doc.release < prev.release) return refuse('release-rollback', `patch ${doc.id} release ${doc.release} is older than the accepted ${prev.release}`);
      if (doc.release === prev.release && prev.sha256 !== p.value.sha256)
        return refuse('release-conflict', `patch ${doc.id} release ${doc.release} differs from the accepted one`);
    }
    releases[key] = { release: doc.release, sha256: p.value.sha256 };
    patches.push(p.value);
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
