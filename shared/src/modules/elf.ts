import { toHex } from '../encoding/index.ts';
import { ByteReader } from './byte-reader.ts';
import { ModuleFormatError } from './module-format-error.ts';
import { makeParsed, sortedDisjoint, type ParsedModule, type ParseOptions, type Segment } from './parsed-module.ts';

/** x86_64 page size: the kernel maps each PT_LOAD from its vaddr rounded down to this. */
export const ELF_PAGE_SIZE = 4096;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const PHDR64_SIZE = 56;
/** The kernel refuses program header tables over 64 KiB, i.e. about 1170 entries. */
const MAX_PHNUM = 4096;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const PF_W = 2;
const NT_GNU_BUILD_ID = 3;
/** Real modules carry a handful of notes; the cap keeps crafted overlapping PT_NOTEs from costing minutes. */
const MAX_NOTES = 4096;

export const isElf = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

interface Phdr {
  index: number;
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

/** ELF64 little-endian x86_64, ET_EXEC or ET_DYN. RVAs as defined in parsed-module.ts. */
export function parseElf(bytes: Uint8Array, opts: ParseOptions = {}): ParsedModule {
  const r = new ByteReader(bytes);
  const fileSize = opts.fileSize ?? bytes.length;
  if (!isElf(bytes)) throw new ModuleFormatError('not an ELF file (no \\x7fELF magic)');
  if (r.u8(4) !== ELFCLASS64) throw new ModuleFormatError(`ELF class ${r.u8(4)} is not ELFCLASS64`);
  if (r.u8(5) !== ELFDATA2LSB) throw new ModuleFormatError(`ELF data encoding ${r.u8(5)} is not little-endian`);
  if (r.u8(6) !== EV_CURRENT) throw new ModuleFormatError(`ELF version ${r.u8(6)} is not EV_CURRENT`);
  const type = r.u16(16);
  if (type !== ET_EXEC && type !== ET_DYN) throw new ModuleFormatError(`ELF type ${type} is neither ET_EXEC nor ET_DYN`);
  const machine = r.u16(18);
  if (machine !== EM_X86_64) throw new ModuleFormatError(`ELF machine ${machine} is not x86_64 (${EM_X86_64})`);
  const phoff = r.u64(32, 'e_phoff');
  const phentsize = r.u16(54);
  const phnum = r.u16(56);
  if (phentsize !== PHDR64_SIZE) throw new ModuleFormatError(`e_phentsize ${phentsize} is not ${PHDR64_SIZE}`);
  if (phnum === 0 || phnum > MAX_PHNUM) throw new ModuleFormatError(`e_phnum ${phnum} is out of range 1..${MAX_PHNUM}`);

  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * PHDR64_SIZE;
    const type = r.u32(o);
    if (type !== PT_LOAD && type !== PT_NOTE) continue;
    const ph: Phdr = {
      index: i,
      type,
      flags: r.u32(o + 4),
      offset: r.u64(o + 8, `p_offset of program header ${i}`),
      vaddr: r.u64(o + 16, `p_vaddr of program header ${i}`),
      filesz: r.u64(o + 32, `p_filesz of program header ${i}`),
      memsz: r.u64(o + 40, `p_memsz of program header ${i}`),
      align: r.u64(o + 48, `p_align of program header ${i}`),
    };
    if (ph.offset + ph.filesz > fileSize)
      throw new ModuleFormatError(`program header ${i} (file ${ph.offset}+${ph.filesz}) extends past the end of the file (${fileSize})`);
    phdrs.push(ph);
  }

  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) throw new ModuleFormatError('no PT_LOAD program headers');
  for (const l of loads) {
    if (l.filesz > l.memsz) throw new ModuleFormatError(`PT_LOAD ${l.index} has p_filesz > p_memsz`);
    if (!Number.isSafeInteger(l.vaddr + l.memsz)) throw new ModuleFormatError(`PT_LOAD ${l.index} ends out of range`);
  }
  const minVaddr = Math.floor(Math.min(...loads.map((l) => l.vaddr)) / ELF_PAGE_SIZE) * ELF_PAGE_SIZE;
  const segments = sortedDisjoint(
    loads.map(
      (l): Segment => ({
        rva: l.vaddr - minVaddr,
        memSize: l.memsz,
        fileOffset: l.offset,
        fileSize: l.filesz,
        executable: (l.flags & PF_X) !== 0,
        writable: (l.flags & PF_W) !== 0,
      }),
    ),
    (s) => `PT_LOAD at vaddr 0x${(s.rva + minVaddr).toString(16)}`,
  );

  const buildId = findBuildId(r, phdrs.filter((p) => p.type === PT_NOTE));
  return makeParsed({
    format: 'elf',
    platform: 'linux',
    arch: 'x86_64',
    ...(buildId ? { buildId } : {}),
    elfType: type === ET_EXEC ? 'exec' : 'dyn',
    minVaddr,
    segments,
  });
}

/**
 * The NT_GNU_BUILD_ID note ("GNU\0") from the PT_NOTE segments, which cover the
 * .note.gnu.build-id section in every module that has one (it is SHF_ALLOC). Name and desc start
 * at offsets aligned to the segment's alignment: 4, or 8 for segments such as .note.gnu.property's.
 */
function findBuildId(r: ByteReader, notes: Phdr[]): string | undefined {
  let seen = 0;
  for (const seg of notes) {
    const a = seg.align === 8 ? 8 : 4;
    const end = seg.offset + seg.filesz;
    const aligned = (off: number) => seg.offset + alignUp(off - seg.offset, a);
    let o = seg.offset;
    while (o + 12 <= end) {
      if (++seen > MAX_NOTES) throw new ModuleFormatError(`more than ${MAX_NOTES} ELF notes`);
      const namesz = r.u32(o);
      const descsz = r.u32(o + 4);
      const type = r.u32(o + 8);
      const nameOff = o + 12;
      const descOff = aligned(nameOff + namesz);
      if (descOff + descsz > end) throw new ModuleFormatError(`ELF note at offset ${o} runs past its PT_NOTE segment`);
      if (type === NT_GNU_BUILD_ID && namesz === 4 && toHex(r.slice(nameOff, 4)) === '474e5500' && descsz >= 4 && descsz <= 64)
        return toHex(r.slice(descOff, descsz));
      o = aligned(descOff + descsz);
    }
  }
  return undefined;
}

/** Plain arithmetic: `& ~3` would wrap 32-bit sizes near 2^32. */
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
