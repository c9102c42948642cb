import { ModuleFormatError } from './module-format-error.ts';

/**
 * What the parser returns, and the RVA arithmetic that the agent's engines share with it.
 *
 * RVA (relative virtual address), the unit every patchlet is addressed in:
 * - PE: the usual RVA. A section is mapped at ImageBase + VirtualAddress; its file bytes start
 *   at PointerToRawData, and only SizeOfRawData of them exist (the rest is zero-filled).
 * - ELF: RVA = p_vaddr - minVaddr, where minVaddr is the lowest PT_LOAD p_vaddr rounded down to
 *   the 4096-byte page. That is the offset from the module's lowest mapping at run time (the
 *   first /proc/PID/maps line of the file): for PIE executables and shared libraries it is the
 *   vaddr itself (minVaddr is 0), non-PIE executables subtract their fixed base (0x400000).
 *   A vaddr's file offset is p_offset + (vaddr - p_vaddr), only within p_filesz.
 * Either way: runtime address = start of the module's lowest mapping + RVA (see rvaToAddress).
 */

/** One mapped run of the image: memory `rva .. rva+memSize`, of which the first `fileSize` bytes come from `fileOffset`. */
export interface Segment {
  rva: number;
  memSize: number;
  fileOffset: number;
  fileSize: number;
  executable: boolean;
  writable: boolean;
  /** PE section name (`.text`); absent for ELF segments */
  name?: string;
}

export interface ParsedModule {
  format: 'elf' | 'pe';
  platform: 'linux' | 'windows';
  arch: 'x86_64';
  /** ELF NT_GNU_BUILD_ID, lowercase hex */
  buildId?: string;
  pe?: { timeDateStamp: number; sizeOfImage: number; imageBase: bigint };
  elfType?: 'exec' | 'dyn';
  /** ELF: lowest PT_LOAD p_vaddr rounded down to the page, so RVA = vaddr - minVaddr. PE: 0. */
  minVaddr: number;
  /** Sorted by rva, never overlapping. */
  segments: Segment[];
  /** File offset of `[rva, rva+length)`; undefined unless all of it is file-backed inside one segment. */
  rvaToFileOffset(rva: number, length: number): number | undefined;
  /** Whether all of `[rva, rva+length)` lies in the memory of one executable segment. */
  isExecutable(rva: number, length: number): boolean;
}

export interface ParseOptions {
  /**
   * Size of the whole file when `bytes` is only its beginning (headers): segments are checked
   * against this size, while every header read must still lie inside `bytes`. Default: bytes.length.
   */
  fileSize?: number;
}

/** Adds the RVA lookups; `segments` must already be sorted and non-overlapping. */
export function makeParsed(base: Omit<ParsedModule, 'rvaToFileOffset' | 'isExecutable'>): ParsedModule {
  const segments = base.segments;
  const find = (rva: number, length: number, size: (s: Segment) => number): Segment | undefined => {
    if (!Number.isSafeInteger(rva) || !Number.isSafeInteger(length) || rva < 0 || length < 1) return undefined;
    return segments.find((s) => rva >= s.rva && rva + length <= s.rva + size(s));
  };
  return {
    ...base,
    rvaToFileOffset(rva, length) {
      const s = find(rva, length, (x) => x.fileSize);
      return s ? s.fileOffset + (rva - s.rva) : undefined;
    },
    isExecutable(rva, length) {
      return find(rva, length, (x) => x.memSize)?.executable ?? false;
    },
  };
}

/** Runtime address of an RVA, given where the module's lowest mapping starts (ELF) or its image base (PE). */
export function rvaToAddress(moduleStart: bigint, rva: number): bigint {
  return moduleStart + BigInt(rva);
}

/**
 * ELF load bias (glibc's l_addr, what the dynamic linker adds to every p_vaddr) from the start
 * of the module's lowest mapping: 0 for non-PIE executables, the mapping start for PIE and .so.
 */
export function elfLoadBias(parsed: Pick<ParsedModule, 'minVaddr'>, lowestMappingStart: bigint): bigint {
  return lowestMappingStart - BigInt(parsed.minVaddr);
}

/** Sorts by rva and refuses overlapping segments, so an RVA has at most one meaning. */
export function sortedDisjoint(segments: Segment[], label: (s: Segment) => string): Segment[] {
  const sorted = [...segments].sort((a, b) => a.rva - b.rva);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.rva < prev.rva + prev.memSize) throw new ModuleFormatError(`${label(cur)} overlaps ${label(prev)} in memory`);
  }
  return sorted;
}
