import { toHex } from '@suture/shared/encoding';
import { bytesAtRva, ModuleFormatError, readModuleIdentity } from '@suture/shared/modules';
import type { Patchlet } from '@suture/shared/schemas';
import { CliError } from './output.util.ts';

export type LoadedModule = Awaited<ReturnType<typeof readModuleIdentity>>;

const JMP_REL32_LEN = 5;
const hex32 = (n: number) => `0x${n.toString(16)}`;
const bytesLen = (hex: string) => hex.length / 2;
const label = (p: Patchlet, i: number) => `patchlet ${i} (${p.kind} at RVA ${hex32(p.rva)})`;
const fail = (message: string, code: string, index: number) => new CliError(message, { code, extra: { patchlet: index } });

export async function loadModule(opts: { path: string }): Promise<LoadedModule> {
  try {
    return await readModuleIdentity(opts.path);
  } catch (err) {
    if (err instanceof ModuleFormatError)
      throw new CliError(`${opts.path} is not an x86_64 ELF64 or PE32+ module (${err.message}); pass the module file the patch fixes`, { code: 'bad-module' });
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read module ${opts.path} (${code ?? (err as Error).message}); check the path`, { code: 'file-unreadable' });
  }
}

/** Checks that need no module: lengths, relocation bounds, overlaps. Throws naming the patchlet. */
export function checkPatchletShapes(opts: { patchlets: Patchlet[] }): void {
  opts.patchlets.forEach((p, i) => {
    const len = bytesLen(p.expect);
    if (p.kind === 'in-place' && bytesLen(p.write) !== len)
      throw fail(`${label(p, i)}: write is ${bytesLen(p.write)} bytes but expect is ${len}; an in-place write must be exactly as long as what it replaces`, 'length-mismatch', i);
    if (p.kind === 'detour') {
      if (len < JMP_REL32_LEN)
        throw fail(`${label(p, i)}: expect is ${len} bytes; a detour replaces at least ${JMP_REL32_LEN} bytes (whole instructions) with a jmp rel32`, 'detour-too-short', i);
      p.relocations.forEach((r, j) => {
        const size = r.type === 'rel32' ? 4 : 8;
        if (r.offset + size > bytesLen(p.code))
          throw fail(
            `${label(p, i)}: relocation ${j} (${r.type} at code offset ${r.offset}) needs ${size} bytes but the code is ${bytesLen(p.code)} bytes; fix the offset`,
            'bad-relocation',
            i,
          );
      });
      const sorted = [...p.relocations].sort((a, b) => a.offset - b.offset);
      for (let j = 1; j < sorted.length; j++)
        if (sorted[j]!.offset < sorted[j - 1]!.offset + (sorted[j - 1]!.type === 'rel32' ? 4 : 8))
          throw fail(`${label(p, i)}: relocations at code offsets ${sorted[j - 1]!.offset} and ${sorted[j]!.offset} overlap`, 'bad-relocation', i);
    }
  });
  const order = opts.patchlets.map((p, i) => ({ p, i })).sort((a, b) => a.p.rva - b.p.rva);
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1]!;
    const cur = order[k]!;
    if (cur.p.rva < prev.p.rva + bytesLen(prev.p.expect))
      throw fail(`patchlets ${prev.i} and ${cur.i} overlap (RVA ${hex32(prev.p.rva)}+${bytesLen(prev.p.expect)} and ${hex32(cur.p.rva)}); merge them into one`, 'overlap', cur.i);
  }
}

/**
 * Every `expect` must really be in the module file at its RVA: a wrong RVA or another build of
 * the module stops here, not on an endpoint. Returns notes worth a warning.
 */
export function checkPatchletsInModule(opts: { patchlets: Patchlet[]; module: LoadedModule }): string[] {
  const { parsed, bytes, name } = opts.module;
  const warnings: string[] = [];
  opts.patchlets.forEach((p, i) => {
    const len = bytesLen(p.expect);
    const found = bytesAtRva(parsed, bytes, p.rva, len);
    if (!found)
      throw fail(
        `${label(p, i)}: the ${len} bytes there are not file-backed code or data of ${name}; check the RVA (symbol address minus the module's base)`,
        'bad-rva',
        i,
      );
    if (toHex(found) !== p.expect)
      throw fail(`${label(p, i)}: expected ${p.expect} but ${name} has ${toHex(found)} there; check the RVA and that this is the build the patch is for`, 'expect-mismatch', i);
    const executable = parsed.isExecutable(p.rva, len);
    if (p.kind === 'detour') {
      if (!executable) throw fail(`${label(p, i)}: the RVA is not in executable code of ${name}; a detour must replace instructions`, 'not-code', i);
      p.relocations.forEach((r, j) => {
        if (!parsed.segments.some((s) => r.targetRva >= s.rva && r.targetRva < s.rva + s.memSize))
          throw fail(`${label(p, i)}: relocation ${j} targets RVA ${hex32(r.targetRva)}, which is outside ${name}; fix targetRva`, 'bad-relocation', i);
      });
    } else if (!executable) {
      warnings.push(`${label(p, i)} changes data, not code, of ${name}`);
    }
  });
  return warnings;
}
