import { Compile } from 'typebox/compile';
import { canonicalize, fromBase64, sha256Hex, utf8 } from '../encoding/index.ts';
import {
  Envelope,
  ManifestDocument,
  PatchDocument,
  PayloadTypes,
  RootDocument,
  SPEC_VERSION,
  type DocumentKind,
} from '../schemas/index.ts';
import { DEFAULT_LIMITS, type Limits, type Result, type VerifiedEnvelope } from './types.ts';

export type DocFor<K extends DocumentKind> = K extends 'root'
  ? RootDocument
  : K extends 'patch'
    ? PatchDocument
    : ManifestDocument;

const envelopeSchema = Compile(Envelope);
const documentSchemas = {
  root: Compile(RootDocument),
  patch: Compile(PatchDocument),
  manifest: Compile(ManifestDocument),
} as const;
const capOf: Record<DocumentKind, keyof Limits> = { root: 'rootBytes', patch: 'patchBytes', manifest: 'manifestBytes' };

export const refuse = <T>(reason: Extract<Result<T>, { ok: false }>['reason'], detail: string): Result<T> => ({ ok: false, reason, detail });

function firstError(validator: { Errors(v: unknown): { instancePath: string; message: string }[] }, v: unknown): string {
  const e = validator.Errors(v)[0];
  return e ? `${e.instancePath || '/'}: ${e.message}` : 'schema violation';
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Parses envelope bytes into a typed document without checking signatures. The size cap is
 * checked before anything is parsed. Never throws: every failure is a typed refusal.
 */
export function parseEnvelope<K extends DocumentKind>(
  bytes: Uint8Array,
  kind: K,
  limits: Partial<Limits> = {},
): Result<VerifiedEnvelope<DocFor<K>>> {
  const cap = { ...DEFAULT_LIMITS, ...limits }[capOf[kind]];
  if (!(bytes instanceof Uint8Array)) return refuse('malformed', 'not bytes');
  if (bytes.length > cap) return refuse('too-large', `${kind} is ${bytes.length} bytes, over the ${cap}-byte cap`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return refuse('malformed', 'envelope is not UTF-8');
  }
  const env = parseJson(text);
  if (!env.ok) return refuse('malformed', 'envelope is not JSON');
  if (!envelopeSchema.Check(env.value)) return refuse('malformed', `envelope: ${firstError(envelopeSchema, env.value)}`);
  const envelope = env.value;
  if (envelope.payloadType !== PayloadTypes[kind])
    return refuse('wrong-payload-type', `expected ${PayloadTypes[kind]}, got ${envelope.payloadType.slice(0, 128)}`);
  let payloadBytes: Uint8Array;
  let payloadText: string;
  try {
    payloadBytes = fromBase64(envelope.payload);
    payloadText = utf8.decode(payloadBytes);
  } catch {
    return refuse('malformed', 'payload is not canonical base64 of UTF-8 text');
  }
  const doc = parseJson(payloadText);
  if (!doc.ok) return refuse('malformed', 'payload is not JSON');
  let canonical: string;
  try {
    canonical = canonicalize(doc.value);
  } catch (err) {
    return refuse('malformed', `payload cannot be canonical: ${(err as Error).message}`);
  }
  if (canonical !== payloadText) return refuse('malformed', 'payload is not in canonical form');
  const d = doc.value as { specVersion?: unknown; type?: unknown } | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return refuse('malformed', 'payload is not an object');
  if (d.specVersion !== SPEC_VERSION) return refuse('unknown-spec-version', `spec version ${String(d.specVersion).slice(0, 16)} is not ${SPEC_VERSION}`);
  const schema = documentSchemas[kind];
  if (!schema.Check(d)) return refuse('malformed', `${kind}: ${firstError(schema, d)}`);
  return { ok: true, value: { envelope, bytes, sha256: sha256Hex(bytes), document: d as DocFor<K> } };
}

export const isoMs = (s: string): number => Date.parse(s);
