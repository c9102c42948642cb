import Type from 'typebox';

export const SPEC_VERSION = '1';

export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'lower-case hex sha256' });
export const KeyId = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 (hex) of the raw Ed25519 public key' });
/** Raw 32-byte Ed25519 public key, lower-case hex. */
export const PublicKeyHex = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 2_000_000 });
export const IsoTime = Type.String({ format: 'date-time', maxLength: 40 });
export const SpecVersion = Type.String({ maxLength: 16, description: 'unknown versions are refused' });
export const Platform = Type.Union([Type.Literal('windows'), Type.Literal('linux')]);
export const Arch = Type.Literal('x86_64');
export const Severity = Type.Union([
  Type.Literal('low'),
  Type.Literal('medium'),
  Type.Literal('high'),
  Type.Literal('critical'),
]);
export const PatchId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });
export const Cve = Type.String({ pattern: '^CVE-[0-9]{4}-[0-9]{4,7}$' });
export const HexBytes = Type.String({ pattern: '^([0-9a-f]{2})+$', maxLength: 8192 });
