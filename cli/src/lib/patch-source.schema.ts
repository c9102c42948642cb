import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { Cve, PatchId, Severity, type Patchlet } from '@suture/shared/schemas';
import { CliError } from './output.util.ts';
import { formatSchemaErrors, type FieldHints } from './schema-errors.util.ts';

/**
 * What a patch author writes (YAML or JSON). Hex may contain spaces between bytes for
 * readability ("48 89 e5"); RVAs may be integers or "0x..." strings.
 */
const LooseHex = Type.String({ pattern: '^\\s*[0-9a-fA-F]{2}(\\s*[0-9a-fA-F]{2})*\\s*$', maxLength: 20_000 });
const Rva = Type.Union([Type.Integer({ minimum: 0, maximum: 0xffff_ffff }), Type.String({ pattern: '^0[xX][0-9a-fA-F]{1,8}$' })]);

const SourceRelocation = Type.Object(
  { offset: Type.Integer({ minimum: 0, maximum: 4095 }), type: Type.Union([Type.Literal('rel32'), Type.Literal('abs64')]), targetRva: Rva },
  { additionalProperties: false },
);
const SourceInPlace = Type.Object({ kind: Type.Literal('in-place'), rva: Rva, expect: LooseHex, write: LooseHex }, { additionalProperties: false });
const SourceDetour = Type.Object(
  { kind: Type.Literal('detour'), rva: Rva, expect: LooseHex, code: LooseHex, relocations: Type.Array(SourceRelocation, { maxItems: 64, default: [] }) },
  { additionalProperties: false },
);
const SourcePatchlet = Type.Union([SourceInPlace, SourceDetour]);

const sourceFields = {
  id: PatchId,
  title: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.String({ maxLength: 10_000, default: '' }),
  cves: Type.Array(Cve, { maxItems: 64, default: [] }),
  severity: Severity,
  /** per module and patch id; must go up with every new build of the same patch */
  release: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
};
export const PatchSource = Type.Object(
  { ...sourceFields, patchlets: Type.Array(SourcePatchlet, { minItems: 1, maxItems: 64 }) },
  { additionalProperties: false },
);
export type PatchSource = Static<typeof PatchSource>;

// For error messages: the fields first, then each patchlet against the schema its `kind` names.
const checkSource = Compile(PatchSource);
const checkFields = Compile(
  Type.Object({ ...sourceFields, patchlets: Type.Array(Type.Object({ kind: Type.Union([Type.Literal('in-place'), Type.Literal('detour')]) }), { minItems: 1, maxItems: 64 }) }, { additionalProperties: false }),
);
const checkByKind = { 'in-place': Compile(SourceInPlace), detour: Compile(SourceDetour) } as const;

const HEX_HINT = 'must be hex bytes, spaces allowed between bytes, e.g. "48 89 e5" (quote it in YAML)';
const RVA_HINT = 'must be an RVA: an integer or a hex string such as "0x1139"';
const HINTS: FieldHints = {
  expect: HEX_HINT,
  write: HEX_HINT,
  code: HEX_HINT,
  rva: RVA_HINT,
  targetRva: RVA_HINT,
  id: 'must be a patch id: letters, digits, ".", "_" or "-", starting with a letter or digit, at most 128 characters',
  severity: 'must be one of "low", "medium", "high", "critical"',
  kind: 'must be "in-place" or "detour"',
  'cves[]': 'must be a CVE id such as "CVE-2026-12345"',
};

export const normalizeHex = (s: string) => s.replace(/\s+/g, '').toLowerCase();
const rvaOf = (v: number | string) => (typeof v === 'number' ? v : parseInt(v.slice(2), 16));

export interface ParsedPatchSource {
  id: string;
  title: string;
  description: string;
  cves: string[];
  severity: PatchSource['severity'];
  release: number;
  patchlets: Patchlet[];
}

/** Parses and validates a patch source; errors name the file and the path of every problem. */
export async function parsePatchSource(opts: { text: string; path: string }): Promise<ParsedPatchSource> {
  const isJson = opts.path.toLowerCase().endsWith('.json');
  let raw: unknown;
  try {
    if (isJson) raw = JSON.parse(opts.text);
    else raw = (await import('yaml')).parse(opts.text, { uniqueKeys: true });
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new CliError(`${opts.path} is not valid ${isJson ? 'JSON' : 'YAML'}: ${first}; fix the syntax`, { code: 'bad-source' });
  }
  const value = checkSource.Default(structuredClone(raw));
  if (!checkSource.Check(value)) {
    const problems = sourceProblems(value);
    throw new CliError(`${opts.path} is not a valid patch source: ${problems.join('; ')}`, { code: 'bad-source' });
  }
  return {
    id: value.id,
    title: value.title,
    description: value.description,
    cves: value.cves,
    severity: value.severity,
    release: value.release,
    patchlets: value.patchlets.map((p): Patchlet =>
      p.kind === 'in-place'
        ? { kind: 'in-place', rva: rvaOf(p.rva), expect: normalizeHex(p.expect), write: normalizeHex(p.write) }
        : {
            kind: 'detour',
            rva: rvaOf(p.rva),
            expect: normalizeHex(p.expect),
            code: normalizeHex(p.code),
            relocations: p.relocations.map((r) => ({ offset: r.offset, type: r.type, targetRva: rvaOf(r.targetRva) })),
          },
    ),
  };
}

function sourceProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['the top level must be a mapping of fields (id, title, ...)'];
  const all = checkFields.Errors(value);
  const inPatchlet = (e: { instancePath: string }, i: number) => e.instancePath === `/patchlets/${i}` || e.instancePath.startsWith(`/patchlets/${i}/`);
  const problems = formatSchemaErrors({ errors: all.filter((e) => !/^\/patchlets\/\d/.test(e.instancePath)), hints: HINTS });
  const patchlets = (value as { patchlets?: unknown }).patchlets;
  if (Array.isArray(patchlets)) {
    patchlets.forEach((p, i) => {
      const kind = (p as { kind?: unknown } | null)?.kind;
      // Defaults (relocations: []) only fill in once the branch is known.
      const errors =
        kind === 'in-place' || kind === 'detour' ? checkByKind[kind].Errors(checkByKind[kind].Default(structuredClone(p))) : all.filter((e) => inPatchlet(e, i));
      problems.push(...formatSchemaErrors({ errors, hints: HINTS, prefix: kind === 'in-place' || kind === 'detour' ? `/patchlets/${i}` : '' }));
    });
  }
  return problems.length ? problems.slice(0, 8) : ['schema violation'];
}
