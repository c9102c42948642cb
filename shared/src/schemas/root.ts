import Type, { type Static } from 'typebox';
import { IsoTime, KeyId, PublicKeyHex, SpecVersion } from './common.ts';

export const RoleKeys = Type.Object(
  {
    keyids: Type.Array(KeyId, { minItems: 1, maxItems: 32 }),
    threshold: Type.Integer({ minimum: 1, maximum: 32 }),
  },
  { additionalProperties: false },
);

export const KeyEntry = Type.Object(
  { keytype: Type.Literal('ed25519'), public: PublicKeyHex },
  { additionalProperties: false },
);

/**
 * The root names every other key. Signed by a threshold of its own root keys and, on rotation,
 * also by a threshold of the previous root's root keys.
 */
export const RootDocument = Type.Object(
  {
    type: Type.Literal('root'),
    specVersion: SpecVersion,
    version: Type.Integer({ minimum: 1 }),
    expires: IsoTime,
    keys: Type.Record(KeyId, KeyEntry, { maxProperties: 64 }),
    roles: Type.Object(
      { root: RoleKeys, publisher: RoleKeys, online: RoleKeys },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type RootDocument = Static<typeof RootDocument>;
export type RoleName = keyof RootDocument['roles'];
