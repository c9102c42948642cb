/** A file that is not a well-formed x86_64 ELF64 or PE32+ image, or is truncated or inconsistent. */
export class ModuleFormatError extends Error {
  override name = 'ModuleFormatError';
}

/** Bounds-checked little-endian reads: every out-of-range read is a ModuleFormatError. */
export class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private check(off: number, len: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + len > this.bytes.length)
      throw new ModuleFormatError(`truncated: read of ${len} bytes at offset ${off} past the end (${this.bytes.length})`);
  }
  u8(off: number): number {
    this.check(off, 1);
    return this.view.getUint8(off);
  }
  u16(off: number): number {
    this.check(off, 2);
    return this.view.getUint16(off, true);
  }
  u32(off: number): number {
    this.check(off, 4);
    return this.view.getUint32(off, true);
  }
  /** 64-bit value as a number; refuses values above 2^53 (no real module is that large). */
  u64(off: number): number {
    this.check(off, 8);
    const v = this.view.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModuleFormatError(`64-bit field at ${off} is out of range`);
    return Number(v);
  }
  u64big(off: number): bigint {
    this.check(off, 8);
    return this.view.getBigUint64(off, true);
  }
  slice(off: number, len: number): Uint8Array {
    this.check(off, len);
    return this.bytes.subarray(off, off + len);
  }
}

/** A run of the module image: `rva..rva+memSize` in memory, the first `fileSize` bytes from `fileOffset`. */
export interface Segment {
  rva: number;
  memSize: number;
  fileOffset: number;
  fileSize: number;
  executable: boolean;
  writable: boolean;
  name?: string;
}

export interface ParsedModule {
  format: 'elf' | 'pe';
  platform: 'linux' | 'windows';
  arch: 'x86_64';
  /** ELF GNU build-id, hex */
  buildId?: string;
  pe?: { timeDateStamp: number; sizeOfImage: number; imageBase: bigint };
  elfType?: 'exec' | 'dyn';
  /** ELF: the lowest PT_LOAD p_vaddr rounded down to the page; RVA = vaddr - minVaddr. PE: 0. */
  minVaddr: number;
  segments: Segment[];
  /** File offset of [rva, rva+length), or undefined unless all of it is file-backed in one segment. */
  rvaToFileOffset(rva: number, length: number): number | undefined;
  isExecutable(rva: number, length: number): boolean;
}

export function makeParsed(base: Omit<ParsedModule, 'rvaToFileOffset' | 'isExecutable'>): ParsedModule {
  const within = (s: Segment, rva: number, length: number, size: number) =>
    Number.isSafeInteger(rva) && Number.isSafeInteger(length) && length >= 0 && rva >= s.rva && rva + length <= s.rva + size;
  return {
    ...base,
    rvaToFileOffset(rva, length) {
      const s = base.segments.find((x) => within(x, rva, length, Math.min(x.fileSize, x.memSize)));
      return s ? s.fileOffset + (rva - s.rva) : undefined;
    },
    isExecutable(rva, length) {
      return base.segments.some((x) => x.executable && within(x, rva, length, x.memSize));
    },
  };
}
