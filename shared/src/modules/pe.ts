import { ByteReader } from './byte-reader.ts';
import { ModuleFormatError } from './module-format-error.ts';
import { makeParsed, sortedDisjoint, type ParsedModule, type ParseOptions, type Segment } from './parsed-module.ts';

const PE_SIGNATURE = 0x0000_4550; // "PE\0\0"
const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const IMAGE_FILE_EXECUTABLE_IMAGE = 0x0002;
const PE32_MAGIC = 0x10b;
const PE32_PLUS_MAGIC = 0x20b;
/** Standard and Windows-specific fields of a PE32+ optional header, before the data directories. */
const PE32_PLUS_MIN_OPTIONAL_HEADER = 112;
const SECTION_HEADER_SIZE = 40;
const IMAGE_SCN_MEM_EXECUTE = 0x2000_0000;
const IMAGE_SCN_MEM_WRITE = 0x8000_0000;

export const isPe = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a;

/**
 * PE32+ image for AMD64 (EXE or DLL). RVAs are the usual ones (see parsed-module.ts): a section
 * is mapped at ImageBase + VirtualAddress, and only its first SizeOfRawData bytes come from the
 * file, at PointerToRawData. Executable means IMAGE_SCN_MEM_EXECUTE, as the loader protects it.
 */
export function parsePe(bytes: Uint8Array, opts: ParseOptions = {}): ParsedModule {
  const r = new ByteReader(bytes);
  const fileSize = opts.fileSize ?? bytes.length;
  if (!isPe(bytes)) throw new ModuleFormatError('not a PE file (no MZ header)');
  const peOff = r.u32(0x3c);
  if (r.u32(peOff) !== PE_SIGNATURE) throw new ModuleFormatError(`no PE signature at e_lfanew (${peOff})`);
  const coff = peOff + 4;
  const machine = r.u16(coff);
  if (machine !== IMAGE_FILE_MACHINE_AMD64) throw new ModuleFormatError(`PE machine 0x${machine.toString(16)} is not AMD64 (0x8664)`);
  const nsections = r.u16(coff + 2);
  const timeDateStamp = r.u32(coff + 4);
  const optSize = r.u16(coff + 16);
  const characteristics = r.u16(coff + 18);
  if ((characteristics & IMAGE_FILE_EXECUTABLE_IMAGE) === 0) throw new ModuleFormatError('PE file is not an executable image (an object file?)');
  const opt = coff + 20;
  const magic = r.u16(opt);
  if (magic === PE32_MAGIC) throw new ModuleFormatError('PE32 (32-bit) image, not PE32+');
  if (magic !== PE32_PLUS_MAGIC) throw new ModuleFormatError(`optional header magic 0x${magic.toString(16)} is not PE32+ (0x20b)`);
  if (optSize < PE32_PLUS_MIN_OPTIONAL_HEADER) throw new ModuleFormatError(`SizeOfOptionalHeader ${optSize} is too small for PE32+`);
  const imageBase = r.u64big(opt + 24);
  const sizeOfImage = r.u32(opt + 56);
  if (nsections === 0) throw new ModuleFormatError('PE image has no sections');

  const sections: Segment[] = [];
  const table = opt + optSize;
  for (let i = 0; i < nsections; i++) {
    const s = table + i * SECTION_HEADER_SIZE;
    const name = sectionName(r.slice(s, 8));
    const virtualSize = r.u32(s + 8);
    const virtualAddress = r.u32(s + 12);
    const sizeOfRawData = r.u32(s + 16);
    const pointerToRawData = r.u32(s + 20);
    const chars = r.u32(s + 36);
    if (sizeOfRawData > 0 && pointerToRawData + sizeOfRawData > fileSize)
      throw new ModuleFormatError(`section ${JSON.stringify(name)} (file ${pointerToRawData}+${sizeOfRawData}) extends past the end of the file (${fileSize})`);
    // The loader maps VirtualSize bytes; linkers that leave it 0 mean SizeOfRawData.
    const memSize = virtualSize === 0 ? sizeOfRawData : virtualSize;
    if (virtualAddress + memSize > sizeOfImage)
      throw new ModuleFormatError(`section ${JSON.stringify(name)} ends past SizeOfImage (0x${sizeOfImage.toString(16)})`);
    sections.push({
      name,
      rva: virtualAddress,
      memSize,
      // The loader ignores PointerToRawData when there is no raw data (.bss).
      fileOffset: sizeOfRawData === 0 ? 0 : pointerToRawData,
      // Raw data is padded to FileAlignment; bytes past VirtualSize are not part of the section.
      fileSize: Math.min(sizeOfRawData, memSize),
      executable: (chars & IMAGE_SCN_MEM_EXECUTE) !== 0,
      writable: (chars & IMAGE_SCN_MEM_WRITE) !== 0,
    });
  }
  return makeParsed({
    format: 'pe',
    platform: 'windows',
    arch: 'x86_64',
    pe: { timeDateStamp, sizeOfImage, imageBase },
    minVaddr: 0,
    segments: sortedDisjoint(sections, (s) => `section ${JSON.stringify(s.name)}`),
  });
}

/** Up to 8 bytes, NUL-padded; long names are "/N" string-table references, kept as they are. */
function sectionName(raw: Uint8Array): string {
  const end = raw.indexOf(0);
  return String.fromCharCode(...raw.subarray(0, end === -1 ? raw.length : end));
}
