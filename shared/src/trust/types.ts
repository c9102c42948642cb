import type { Envelope, ManifestDocument, PatchDocument, RootDocument } from '../schemas/index.ts';

/** Why a document was refused. Stable strings: they travel to the server and to SIEMs. */
export type RefusalReason =
  | 'too-large' // over the size cap; refused before parsing
  | 'malformed' // not JSON, schema violation, bad base64, payload not canonical
  | 'wrong-payload-type'
  | 'unknown-spec-version'
  | 'threshold-not-met' // not enough distinct valid signatures from the role's keys
  | 'expired'
  | 'rollback' // version lower than the last accepted
  | 'version-conflict' // same version as the last accepted, different bytes
  | 'non-consecutive-root' // root N must be followed by N+1
  | 'too-many-rotations'
  | 'hash-mismatch' // patch bytes differ from the manifest's length/sha256
  | 'not-in-manifest'
  | 'release-rollback'
  | 'release-conflict' // same release as the last accepted, different bytes
  | 'wrong-module'; // document targets another module than the one mapped

export type Result<T> = { ok: true; value: T } | { ok: false; reason: RefusalReason; detail: string };

export interface Limits {
  rootBytes: number;
  manifestBytes: number;
  patchBytes: number;
  maxRootRotations: number;
}

export const DEFAULT_LIMITS: Limits = {
  rootBytes: 64 * 1024,
  manifestBytes: 256 * 1024,
  patchBytes: 1024 * 1024,
  maxRootRotations: 32,
};

export interface VerifiedEnvelope<T> {
  envelope: Envelope;
  /** the exact bytes that were verified (the envelope as received) */
  bytes: Uint8Array;
  sha256: string;
  document: T;
}

/**
 * What an agent persists between updates, and only after a whole update passed. Stored
 * manifests and releases are kept even after they expire: an expired copy still blocks rollback.
 */
export interface TrustState {
  root: VerifiedEnvelope<RootDocument>;
  /** per module sha256: the last accepted manifest */
  manifests: Record<string, { version: number; expires: string; sha256: string }>;
  /** per `${moduleSha256}/${patchId}`: the last accepted release */
  releases: Record<string, { release: number; sha256: string }>;
}

export interface UpdateInput {
  state: TrustState;
  /** new root versions in order (N+1, N+2, ...), possibly empty */
  roots?: Uint8Array[];
  /** manifest envelope bytes as received */
  manifest: Uint8Array;
  /** patch envelope bytes as received, each must be named by the manifest */
  patches: Uint8Array[];
  /** sha256 of the module file that is actually mapped in the target */
  mappedModuleSha256: string;
  /** one clock reading for the whole update */
  now: Date;
  limits?: Partial<Limits>;
}

export interface UpdateOutput {
  state: TrustState;
  manifest: VerifiedEnvelope<ManifestDocument>;
  patches: VerifiedEnvelope<PatchDocument>[];
}
