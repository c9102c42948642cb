import Type, { type Static } from 'typebox';
import { Arch, Cve, HexBytes, IsoTime, PatchId, Platform, Severity, Sha256Hex, SpecVersion } from './common.ts';

const Rva = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });

export const ModuleIdentity = Type.Object(
  {
    sha256: Sha256Hex,
    size: Type.Integer({ minimum: 1, maximum: 4 * 1024 ** 3 }),
    name: Type.String({ minLength: 1, maxLength: 255 }),
    platform: Platform,
    arch: Arch,
    /** ELF GNU build-id (hex), a cross-check for linux modules. */
    buildId: Type.Optional(Type.String({ pattern: '^([0-9a-f]{2}){4,64}$' })),
    /** PE cross-check for windows modules. */
    pe: Type.Optional(
      Type.Object(
        {
          timeDateStamp: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
          sizeOfImage: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ModuleIdentity = Static<typeof ModuleIdentity>;

/** `expect` bytes are replaced by `write` bytes of the same length. */
export const InPlacePatchlet = Type.Object(
  {
    kind: Type.Literal('in-place'),
    rva: Rva,
    expect: HexBytes,
    write: HexBytes,
  },
  { additionalProperties: false },
);

/** A place in `code` to fill with the runtime address of a module RVA. */
export const Relocation = Type.Object(
  {
    /** byte offset inside `code` */
    offset: Type.Integer({ minimum: 0, maximum: 4095 }),
    type: Type.Union([Type.Literal('rel32'), Type.Literal('abs64')]),
    /** RVA inside the target module the field must point at */
    targetRva: Rva,
  },
  { additionalProperties: false },
);
export type Relocation = Static<typeof Relocation>;

/**
 * `expect` (whole instructions, at least 5 bytes) is replaced by a jmp rel32 to `code`, which
 * the engine places within +-2 GiB of the module. The code returns into the module by itself,
 * through a relocation.
 */
export const DetourPatchlet = Type.Object(
  {
    kind: Type.Literal('detour'),
    rva: Rva,
    expect: HexBytes,
    code: HexBytes,
    relocations: Type.Array(Relocation, { maxItems: 64 }),
  },
  { additionalProperties: false },
);

export const Patchlet = Type.Union([InPlacePatchlet, DetourPatchlet]);
export type Patchlet = Static<typeof Patchlet>;
export type InPlacePatchlet = Static<typeof InPlacePatchlet>;
export type DetourPatchlet = Static<typeof DetourPatchlet>;

/** Publisher-signed. */
export const PatchDocument = Type.Object(
  {
    type: Type.Literal('patch'),
    specVersion: SpecVersion,
    id: PatchId,
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.String({ maxLength: 10_000 }),
    cves: Type.Array(Cve, { maxItems: 64 }),
    severity: Severity,
    module: ModuleIdentity,
    /** Per module and patch id; never goes down. */
    release: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
    created: IsoTime,
    patchlets: Type.Array(Patchlet, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type PatchDocument = Static<typeof PatchDocument>;
