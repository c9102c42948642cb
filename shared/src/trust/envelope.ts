import { canonicalBytes, fromBase64, toBase64, utf8 } from '../encoding/index.ts';
import { ed25519Sign } from './ed25519.ts';
import { PayloadTypes, type DocumentKind, type Envelope } from '../schemas/index.ts';
import type { KeyPair } from './keys.ts';

/** DSSE pre-authentication encoding: binds the payload type into what is signed. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  const head = utf8.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Signs a document (canonical JSON) with every given key. */
export function signDocument(kind: DocumentKind, document: unknown, keys: KeyPair[]): Envelope {
  const payload = canonicalBytes(document);
  return signPayload(PayloadTypes[kind], payload, keys);
}

export function signPayload(payloadType: string, payload: Uint8Array, keys: KeyPair[]): Envelope {
  const msg = pae(payloadType, payload);
  return {
    payloadType,
    payload: toBase64(payload),
    signatures: keys.map((k) => ({ keyid: k.keyid, sig: toBase64(ed25519Sign(msg, k.secretKey)) })),
  };
}

/** Adds signatures to an existing envelope (threshold signing by several holders). */
export function addSignatures(env: Envelope, keys: KeyPair[]): Envelope {
  const msg = pae(env.payloadType, fromBase64(env.payload));
  const have = new Set(env.signatures.map((s) => s.keyid));
  const extra = keys
    .filter((k) => !have.has(k.keyid))
    .map((k) => ({ keyid: k.keyid, sig: toBase64(ed25519Sign(msg, k.secretKey)) }));
  return { ...env, signatures: [...env.signatures, ...extra] };
}

/** Envelope as the bytes that are stored, served and hashed. */
export function envelopeBytes(env: Envelope): Uint8Array<ArrayBuffer> {
  return canonicalBytes(env);
}
