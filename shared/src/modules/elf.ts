import { toHex } from '../encoding/index.ts';
import { makeParsed, ModuleFormatError, Reader, type ParsedModule, type Segment } from './module-format.ts';

const PAGE = 4096;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const PF_W = 2;
const NT_GNU_BUILD_ID = 3;
const EM_X86_64 = 62;

export const isElf = (b: Uint8Array) => b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

/**
 * ELF64 little-endian x86_64. RVAs are offsets from the module's lowest mapping at run time:
 * RVA = p_vaddr - (lowest PT_LOAD p_vaddr rounded down to the page). For PIE executables and
 * shared libraries that is the vaddr itself; non-PIE executables subtract their fixed base.
 */
export function parseElf(bytes: Uint8Array): ParsedModule {
  const r = new Reader(bytes);
  if (!isElf(bytes)) throw new ModuleFormatError('not an ELF file');
  if (r.u8(4) !== 2) throw new ModuleFormatError('not a 64-bit ELF');
  if (r.u8(5) !== 1) throw new ModuleFormatError('not a little-endian ELF');
  const type = r.u16(16);
  if (type !== 2 && type !== 3) throw new ModuleFormatError(`ELF type ${type} is neither an executable nor a shared object`);
  if (r.u16(18) !== EM_X86_64) throw new ModuleFormatError(`ELF machine ${r.u16(18)} is not x86_64`);
  const phoff = r.u64(32);
  const phentsize = r.u16(54);
  const phnum = r.u16(56);
  if (phentsize < 56) throw new ModuleFormatError(`program header entries of ${phentsize} bytes are too small`);
  if (phnum === 0 || phnum > 4096) throw new ModuleFormatError(`${phnum} program headers`);

  const loads: { vaddr: number; offset: number; filesz: number; memsz: number; flags: number }[] = [];
  let buildId: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const ptype = r.u32(o);
    const flags = r.u32(o + 4);
    const offset = r.u64(o + 8);
    const vaddr = r.u64(o + 16);
    const filesz = r.u64(o + 32);
    const memsz = r.u64(o + 40);
    if (ptype === PT_LOAD) {
      if (filesz > memsz) throw new ModuleFormatError(`PT_LOAD ${i} has p_filesz > p_memsz`);
      if (offset + filesz > bytes.length) throw new ModuleFormatError(`PT_LOAD ${i} extends past the end of the file`);
      loads.push({ vaddr, offset, filesz, memsz, flags });
    } else if (ptype === PT_NOTE && buildId === undefined) {
      buildId = readBuildId(r, offset, filesz);
    }
  }
  if (loads.length === 0) throw new ModuleFormatError('no PT_LOAD segments');
  const minVaddr = Math.floor(Math.min(...loads.map((l) => l.vaddr)) / PAGE) * PAGE;
  const segments: Segment[] = loads.map((l) => ({
    rva: l.vaddr - minVaddr,
    memSize: l.memsz,
    fileOffset: l.offset,
    fileSize: l.filesz,
    executable: (l.flags & PF_X) !== 0,
    writable: (l.flags & PF_W) !== 0,
  }));
  return makeParsed({
    format: 'elf',
    platform: 'linux',
    arch: 'x86_64',
    ...(buildId ? { buildId } : {}),
    elfType: type === 2 ? 'exec' : 'dyn',
    minVaddr,
    segments,
  });
}

function readBuildId(r: Reader, offset: number, size: number): string | undefined {
  const end = offset + size;
  if (end > r.bytes.length) throw new ModuleFormatError('PT_NOTE extends past the end of the file');
  let o = offset;
  while (o + 12 <= end) {
    const namesz = r.u32(o);
    const descsz = r.u32(o + 4);
    const type = r.u32(o + 8);
    const nameOff = o + 12;
    const descOff = nameOff + align4(namesz);
    const next = descOff + align4(descsz);
    if (next > end || next <= o) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && toHex(r.slice(nameOff, 4)) === '474e5500' && descsz >= 4 && descsz <= 64) {
      return toHex(r.slice(descOff, descsz));
    }
    o = next;
  }
  return undefined;
}

const align4 = (n: number) => (n + 3) & ~3;
