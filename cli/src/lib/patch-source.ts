import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';
import { Cve, PatchId, Severity } from '@suture/shared/schemas';
import { CliError } from './output.ts';

/** Hex with optional spaces for readability: "48 89 e5". */
const LooseHex = Type.String({ pattern: '^[0-9a-fA-F\\s]+$' });
const Rva = Type.Union([Type.Integer({ minimum: 0, maximum: 0xffffffff }), Type.String({ pattern: '^0x[0-9a-fA-F]{1,8}$' })]);

const Source = Type.Object(
  {
    id: PatchId,
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.String({ maxLength: 10_000, default: '' }),
    cves: Type.Array(Cve, { maxItems: 64, default: [] }),
    severity: Severity,
    release: Type.Integer({ minimum: 1, default: 1 }),
    patchlets: Type.Array(
      Type.Union([
        Type.Object({ kind: Type.Literal('in-place'), rva: Rva, expect: LooseHex, write: LooseHex }, { additionalProperties: false }),
        Type.Object(
          {
            kind: Type.Literal('detour'),
            rva: Rva,
            expect: LooseHex,
            code: LooseHex,
            relocations: Type.Array(
              Type.Object(
                { offset: Type.Integer({ minimum: 0 }), type: Type.Union([Type.Literal('rel32'), Type.Literal('abs64')]), targetRva: Rva },
                { additionalProperties: false },
              ),
              { default: [] },
            ),
          },
          { additionalProperties: false },
        ),
      ]),
      { minItems: 1, maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);
export type PatchSource = Static<typeof Source>;
const compiled = Compile(Source);

export const hex = (s: string) => s.replace(/\s+/g, '').toLowerCase();
export const rvaOf = (v: number | string) => (typeof v === 'number' ? v : parseInt(v.slice(2), 16));

export function parsePatchSource(text: string, path: string): PatchSource {
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new CliError(`${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`, 'bad-source');
  }
  const v = compiled.Default(raw);
  if (!compiled.Check(v)) {
    const errs = compiled.Errors(v).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new CliError(`${path} is not a valid patch source: ${errs.join('; ')}`, 'bad-source');
  }
  return v;
}
