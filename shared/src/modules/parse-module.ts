import { isElf, parseElf } from './elf.ts';
import { ModuleFormatError } from './module-format-error.ts';
import type { ParsedModule, ParseOptions } from './parsed-module.ts';
import { isPe, parsePe } from './pe.ts';

/**
 * Parses an x86_64 ELF64 little-endian (ET_EXEC/ET_DYN) or PE32+ AMD64 image. Anything else,
 * and any truncated or inconsistent file, throws ModuleFormatError; no input makes it throw
 * anything else or loop for long.
 */
export function parseModule(bytes: Uint8Array, opts: ParseOptions = {}): ParsedModule {
  if (opts.fileSize !== undefined && (!Number.isSafeInteger(opts.fileSize) || opts.fileSize < bytes.length))
    throw new ModuleFormatError(`fileSize ${opts.fileSize} is smaller than the ${bytes.length} bytes given`);
  if (isElf(bytes)) return parseElf(bytes, opts);
  if (isPe(bytes)) return parsePe(bytes, opts);
  throw new ModuleFormatError('neither an ELF nor a PE image (unknown magic)');
}

/** The file bytes at `[rva, rva+length)`, or undefined unless all of them are file-backed in one segment and present in `bytes`. */
export function bytesAtRva(parsed: ParsedModule, bytes: Uint8Array, rva: number, length: number): Uint8Array | undefined {
  const off = parsed.rvaToFileOffset(rva, length);
  if (off === undefined || off + length > bytes.length) return undefined;
  return bytes.subarray(off, off + length);
}
