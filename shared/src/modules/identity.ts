import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sha256Hex } from '../encoding/index.ts';
import type { ModuleIdentity } from '../schemas/index.ts';
import { parseModule } from './parse-module.ts';
import type { ParsedModule } from './parsed-module.ts';

/** Identity of a module file as patch documents name it: sha256 and size of the whole file plus the format's cross-checks. */
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

/**
 * Reads and identifies a module file; `name` is its basename. Also returns the parse and the
 * bytes, which callers need for bytesAtRva. Spread only the ModuleIdentity fields into documents.
 */
export async function readModuleIdentity(path: string): Promise<ModuleIdentity & { parsed: ParsedModule; bytes: Uint8Array }> {
  const bytes = new Uint8Array(await readFile(path));
  const parsed = parseModule(bytes);
  return { ...moduleIdentity({ bytes, name: basename(path), parsed }), parsed, bytes };
}
