import { makeParsed, ModuleFormatError, Reader, type ParsedModule, type Segment } from './module-format.ts';

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32_PLUS = 0x20b;
const SCN_MEM_EXECUTE = 0x20000000;
const SCN_MEM_WRITE = 0x80000000;
const SCN_CNT_CODE = 0x20;

export const isPe = (b: Uint8Array) => b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a;

/**
 * PE32+ (AMD64). RVAs are the usual ones: a section is mapped at ImageBase + VirtualAddress and
 * its file bytes are at PointerToRawData (only SizeOfRawData of them; the rest is zero-filled).
 */
export function parsePe(bytes: Uint8Array): ParsedModule {
  const r = new Reader(bytes);
  if (!isPe(bytes)) throw new ModuleFormatError('not a PE file (no MZ header)');
  const peOff = r.u32(0x3c);
  if (r.u32(peOff) !== 0x00004550) throw new ModuleFormatError('no PE signature');
  const coff = peOff + 4;
  const machine = r.u16(coff);
  if (machine !== IMAGE_FILE_MACHINE_AMD64) throw new ModuleFormatError(`PE machine 0x${machine.toString(16)} is not AMD64`);
  const nsections = r.u16(coff + 2);
  const timeDateStamp = r.u32(coff + 4);
  const optSize = r.u16(coff + 16);
  const opt = coff + 20;
  if (r.u16(opt) !== PE32_PLUS) throw new ModuleFormatError('not a PE32+ image');
  if (optSize < 112) throw new ModuleFormatError('optional header too small');
  const imageBase = r.u64big(opt + 24);
  const sizeOfImage = r.u32(opt + 56);
  if (nsections === 0 || nsections > 96) throw new ModuleFormatError(`${nsections} sections`);
  const secTable = opt + optSize;
  const segments: Segment[] = [];
  for (let i = 0; i < nsections; i++) {
    const s = secTable + i * 40;
    const rawName = r.slice(s, 8);
    const name = new TextDecoder().decode(rawName).replace(/\0.*$/s, '');
    const virtualSize = r.u32(s + 8);
    const virtualAddress = r.u32(s + 12);
    const sizeOfRawData = r.u32(s + 16);
    const pointerToRawData = r.u32(s + 20);
    const chars = r.u32(s + 36);
    if (sizeOfRawData > 0 && pointerToRawData + sizeOfRawData > bytes.length)
      throw new ModuleFormatError(`section ${name} extends past the end of the file`);
    const memSize = Math.max(virtualSize, virtualSize === 0 ? sizeOfRawData : 0);
    segments.push({
      name,
      rva: virtualAddress,
      memSize,
      fileOffset: pointerToRawData,
      fileSize: Math.min(sizeOfRawData, memSize),
      executable: (chars & SCN_MEM_EXECUTE) !== 0 || (chars & SCN_CNT_CODE) !== 0,
      writable: (chars >>> 0 & SCN_MEM_WRITE) !== 0,
    });
  }
  return makeParsed({
    format: 'pe',
    platform: 'windows',
    arch: 'x86_64',
    pe: { timeDateStamp, sizeOfImage, imageBase },
    minVaddr: 0,
    segments,
  });
}
