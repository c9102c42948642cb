import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sha256Hex } from '../encoding/index.ts';
import type { ModuleIdentity } from '../schemas/index.ts';
import { isElf, parseElf } from './elf.ts';
import { ModuleFormatError, type ParsedModule } from './module-format.ts';
import { isPe, parsePe } from './pe.ts';

export { ModuleFormatError, type ParsedModule, type Segment } from './module-format.ts';

/** Parses an x86_64 ELF64 or PE32+ image; anything else is a ModuleFormatError. */
export function parseModule(bytes: Uint8Array): ParsedModule {
  if (isElf(bytes)) return parseElf(bytes);
  if (isPe(bytes)) return parsePe(bytes);
  throw new ModuleFormatError('neither an ELF nor a PE image');
}

export function bytesAtRva(parsed: ParsedModule, bytes: Uint8Array, rva: number, length: number): Uint8Array | undefined {
  const off = parsed.rvaToFileOffset(rva, length);
  return off === undefined ? undefined : bytes.subarray(off, off + length);
}

/** Identity of a module file as patch documents name it. */
export function moduleIdentity(opts: { bytes: Uint8Array; name: string; parsed?: ParsedModule }): ModuleIdentity {
  const parsed = opts.parsed ?? parseModule(opts.bytes);
  return {
    sha256: sha256Hex(opts.bytes),
    size: opts.bytes.length,
    name: opts.name,
    platform: parsed.platform,
    arch: parsed.arch,
    ...(parsed.buildId ? { buildId: parsed.buildId } : {}),
    ...(parsed.pe ? { pe: { timeDateStamp: parsed.pe.timeDateStamp, sizeOfImage: parsed.pe.sizeOfImage } } : {}),
  };
}

export async function readModuleIdentity(path: string): Promise<ModuleIdentity & { parsed: ParsedModule; bytes: Uint8Array }> {
  const bytes = new Uint8Array(await readFile(path));
  const parsed = parseModule(bytes);
  return { ...moduleIdentity({ bytes, name: basename(path), parsed }), parsed, bytes };
}
