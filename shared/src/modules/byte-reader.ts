import { ModuleFormatError } from './module-format-error.ts';

/** Bounds-checked little-endian reads: a read outside the buffer is a ModuleFormatError, never a RangeError. */
export class ByteReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private check(off: number, len: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || len < 0 || off + len > this.bytes.length)
      throw new ModuleFormatError(`truncated: ${len} bytes at offset ${off} lie past the end of the ${this.bytes.length} bytes read`);
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

  /** A 64-bit offset or size as a number; above 2^53 no real module can be, so it is refused. */
  u64(off: number, what: string): number {
    const v = this.u64big(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModuleFormatError(`${what} 0x${v.toString(16)} is out of range`);
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
