import Type, { type Static } from 'typebox';
import { Base64, KeyId } from './common.ts';

/** One payloadType per document kind; a signature for one kind never verifies as another. */
export const PayloadTypes = {
  root: 'application/vnd.suture.root+json',
  patch: 'application/vnd.suture.patch+json',
  manifest: 'application/vnd.suture.manifest+json',
} as const;
export type DocumentKind = keyof typeof PayloadTypes;

export const Signature = Type.Object(
  { keyid: KeyId, sig: Type.String({ pattern: '^[A-Za-z0-9+/]{86}==$', description: 'base64 Ed25519 signature' }) },
  { additionalProperties: false },
);

/** DSSE-style envelope: signatures are over PAE(payloadType, payload bytes). */
export const Envelope = Type.Object(
  {
    payloadType: Type.String({ maxLength: 128 }),
    payload: Base64,
    signatures: Type.Array(Signature, { minItems: 1, maxItems: 32 }),
  },
  { additionalProperties: false },
);
export type Envelope = Static<typeof Envelope>;
