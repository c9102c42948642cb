import Type, { type Static } from 'typebox';
import { IsoTime, PatchId, Sha256Hex, SpecVersion } from './common.ts';

export const ManifestEntry = Type.Object(
  {
    id: PatchId,
    release: Type.Integer({ minimum: 1 }),
    /** length and sha256 of the patch *envelope* bytes as served */
    length: Type.Integer({ minimum: 1 }),
    sha256: Sha256Hex,
  },
  { additionalProperties: false },
);
export type ManifestEntry = Static<typeof ManifestEntry>;

/** Online-signed, short-lived, one per module sha256. */
export const ManifestDocument = Type.Object(
  {
    type: Type.Literal('manifest'),
    specVersion: SpecVersion,
    module: Sha256Hex,
    version: Type.Integer({ minimum: 1 }),
    expires: IsoTime,
    patches: Type.Array(ManifestEntry, { maxItems: 1024 }),
  },
  { additionalProperties: false },
);
export type ManifestDocument = Static<typeof ManifestDocument>;
