import { Compile } from 'typebox/compile';
import { canonicalBytes, fromBase64, sha256Hex, utf8 } from '../encoding/index.ts';
import {
  Envelope,
  ManifestDocument,
  PatchDocument,
  PayloadTypes,
  RootDocument,
  SPEC_VERSION,
  type DocumentKind,
} from '../schemas/index.ts';
import { isReadableTime } from './expiry.ts';
import { rootKeyProblem } from './root-keys.ts';
import { resolveLimits } from './limits.ts';
import { refuse, refusalFromException } from './refusal.ts';
import type { Limits, Result, VerifiedEnvelope } from './types.ts';

export type DocFor<K extends DocumentKind> = K extends 'root'
  ? RootDocument
  : K extends 'patch'
    ? PatchDocument
    : ManifestDocument;

const envelopeSchema = Compile(Envelope);
export const documentSchemas = {
  root: Compile(RootDocument),
  patch: Compile(PatchDocument),
  manifest: Compile(ManifestDocument),
} as const;
const capOf: Record<DocumentKind, keyof Limits> = { root: 'rootBytes', patch: 'patchBytes', manifest: 'manifestBytes' };

/** Attacker-chosen text in a detail goes to logs and SIEMs: quoted, escaped and short. */
const quote = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : `a ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`);

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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function canonicalOf(value: unknown): Uint8Array | undefined {
  try {
    return canonicalBytes(value);
  } catch {
    return undefined;
  }
}

/** Times the schema accepts but Date.parse cannot read (a leap second, an RFC 9557 suffix). */
function unreadableTime(doc: RootDocument | PatchDocument | ManifestDocument): string | undefined {
  const [field, value] = doc.type === 'patch' ? ['created', doc.created] : ['expires', doc.expires];
  return isReadableTime(value) ? undefined : `${field} ${quote(value)} is not a time this verifier can read`;
}

/**
 * Parses envelope bytes into a typed document without checking signatures. The size cap is
 * checked before anything is parsed. Never throws: every failure is a typed refusal.
 */
export function parseEnvelope<K extends DocumentKind>(
  bytes: Uint8Array,
  kind: K,
  limits?: Partial<Limits>,
): Result<VerifiedEnvelope<DocFor<K>>> {
  try {
    return parse(bytes, kind, limits);
  } catch (err) {
    return refusalFromException(err);
  }
}

function parse<K extends DocumentKind>(input: Uint8Array, kind: K, limits: Partial<Limits> | undefined): Result<VerifiedEnvelope<DocFor<K>>> {
  if (!Object.hasOwn(PayloadTypes, kind)) return refuse('malformed', `unknown document kind ${quote(kind)}`);
  if (!(input instanceof Uint8Array)) return refuse('malformed', 'not bytes');
  const cap = resolveLimits(limits)[capOf[kind]];
  if (input.length > cap) return refuse('too-large', `${kind} is ${input.length} bytes, over the ${cap}-byte cap`);
  // Our own copy: what is hashed is what is returned, and a view into a larger buffer neither
  // aliases the caller's memory nor keeps it alive in the persisted state.
  // (Buffer#slice would return a view, hence the constructor.)
  const bytes = new Uint8Array(input);
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
    return refuse('wrong-payload-type', `expected ${PayloadTypes[kind]}, got ${quote(envelope.payloadType)}`);
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
  const canonical = canonicalOf(doc.value);
  if (!canonical) return refuse('malformed', 'payload has no canonical form (floats, -0 or nesting too deep)');
  if (!sameBytes(canonical, payloadBytes)) return refuse('malformed', 'payload is not in canonical form');
  const d = doc.value;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return refuse('malformed', 'payload is not an object');
  // Before the full schema, so a newer document (with fields this version does not know) is
  // refused as what it is rather than as a schema violation.
  const specVersion = (d as { specVersion?: unknown }).specVersion;
  if (specVersion !== SPEC_VERSION) return refuse('unknown-spec-version', `spec version ${quote(specVersion)} is not ${SPEC_VERSION}`);
  const schema = documentSchemas[kind];
  if (!schema.Check(d)) return refuse('malformed', `${kind}: ${firstError(schema, d)}`);
  const document = d as DocFor<K>;
  const badTime = unreadableTime(document);
  if (badTime) return refuse('malformed', `${kind}: ${badTime}`);
  if (kind === 'root') {
    const problem = rootKeyProblem(document as RootDocument);
    if (problem) return refuse('malformed', `root: ${problem}`);
  }
  return { ok: true, value: { envelope, bytes, sha256: sha256Hex(bytes), document } };
}
