/** The ELF parser against gcc builds, checked against nm, objdump, readelf and the running program. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../encoding/index.ts';
import { bytesAtRva, elfLoadBias, ModuleFormatError, parseModule, readModuleIdentity, rvaToAddress } from './index.ts';
import {
  compile,
  disassembledBytes,
  fileOffsetOf,
  readelfBuildId,
  readelfLowestLoad,
  run,
  symbol,
  tempDir,
} from './binutils.test-helper.ts';

const tmp = tempDir();
after(() => tmp.remove());

const CASES = [
  { name: 'pie', args: ['-fPIE', '-pie'], elfType: 'dyn' },
  { name: 'nopie', args: ['-fno-pie', '-no-pie'], elfType: 'exec' },
  { name: 'libflaw.so', args: ['-shared', '-fPIC'], elfType: 'dyn' },
  { name: 'static', args: ['-static'], elfType: 'exec' },
] as const;

const built = new Map<string, string>();
before(() => {
  for (const c of CASES) {
    const sources = c.name === 'libflaw.so' ? ['flaw.c'] : ['main.c', 'flaw.c'];
    built.set(c.name, compile({ cc: 'gcc', sources, args: ['-Wl,--build-id', ...c.args], out: join(tmp.dir, c.name) }));
  }
  // An executable that runs check_len from libflaw.so, to see where the library is mapped.
  compile({ cc: 'gcc', sources: ['main.c'], args: [`-L${tmp.dir}`, '-lflaw', `-Wl,-rpath,${tmp.dir}`], out: join(tmp.dir, 'uses-lib') });
});

describe('ELF modules built with gcc', () => {
  for (const c of CASES) {
    test(`${c.name}: RVAs, file offsets, bytes and build-id agree with binutils and the running program`, async () => {
      const file = built.get(c.name)!;
      const id = await readModuleIdentity(file);
      const { parsed } = id;
      assert.equal(id.name, c.name);
      assert.equal(id.size, readFileSync(file).length);
      assert.deepEqual([parsed.format, id.platform, id.arch, parsed.elfType], ['elf', 'linux', 'x86_64', c.elfType]);
      assert.equal(parsed.minVaddr, Math.floor(readelfLowestLoad(file) / 4096) * 4096);
      assert.equal(parsed.minVaddr === 0, c.name !== 'nopie' && c.name !== 'static', 'only non-PIE executables have a base');

      const fn = symbol({ nm: 'nm', file, name: 'check_len' });
      const rva = fn - parsed.minVaddr;
      const offset = fileOffsetOf({ objdump: 'objdump', file, vma: fn });
      assert.equal(parsed.rvaToFileOffset(rva, 12), offset);
      const code = bytesAtRva(parsed, id.bytes, rva, 12);
      assert.ok(code);
      assert.equal(toHex(code), disassembledBytes({ objdump: 'objdump', file, name: 'check_len', n: 12 }));
      assert.ok(parsed.isExecutable(rva, 12));

      const counter = symbol({ nm: 'nm', file, name: 'counter' }) - parsed.minVaddr;
      assert.equal(parsed.isExecutable(counter, 4), false);
      assert.equal(toHex(bytesAtRva(parsed, id.bytes, counter, 4)!), '07000000');
      const zeroed = symbol({ nm: 'nm', file, name: 'zeroed' }) - parsed.minVaddr;
      assert.equal(parsed.rvaToFileOffset(zeroed, 4), undefined, '.bss is in memory but not in the file');
      assert.equal(parsed.isExecutable(zeroed, 4), false);

      assert.match(id.buildId ?? '', /^[0-9a-f]{8,}$/);
      assert.equal(id.buildId, readelfBuildId(file));

      // The RVA definition at run time: lowest mapping of the file + RVA = where check_len runs.
      const [lowest, runtime] = run(c.name === 'libflaw.so' ? join(tmp.dir, 'uses-lib') : file, ['mapping'])
        .trim()
        .split(' ')
        .map((h) => BigInt(`0x${h}`));
      assert.equal(rvaToAddress(lowest!, rva), runtime);
      assert.equal(elfLoadBias(parsed, lowest!), c.elfType === 'exec' ? 0n : lowest);
    });
  }

  test('ranges are file-backed only inside one segment', () => {
    const bytes = new Uint8Array(readFileSync(built.get('nopie')!));
    const parsed = parseModule(bytes);
    assert.ok(parsed.segments.length >= 2);
    for (const s of parsed.segments) {
      if (s.fileSize >= 4) assert.equal(parsed.rvaToFileOffset(s.rva + s.fileSize - 4, 4), s.fileOffset + s.fileSize - 4);
      assert.equal(parsed.rvaToFileOffset(s.rva + s.fileSize - 2, 4), undefined, 'straddles the end of the file-backed part');
      assert.equal(parsed.isExecutable(s.rva + s.memSize - 2, 4), false, 'straddles the end of the segment');
    }
    for (const [rva, len] of [[-1, 4], [0, 0], [0.5, 4], [2 ** 53, 4], [0x7fff_ffff, 4]] as const) {
      assert.equal(parsed.rvaToFileOffset(rva, len), undefined);
      assert.equal(parsed.isExecutable(rva, len), false);
    }
  });

  test('headers-only parse of a large module with fileSize', () => {
    const bytes = new Uint8Array(readFileSync(built.get('static')!));
    const head = bytes.subarray(0, 64 * 1024);
    assert.ok(bytes.length > head.length);
    assert.throws(() => parseModule(head), ModuleFormatError);
    const full = parseModule(bytes);
    const partial = parseModule(head, { fileSize: bytes.length });
    assert.deepEqual(partial.segments, full.segments);
    assert.equal(partial.buildId, full.buildId);
    const last = full.segments.at(-1)!;
    assert.equal(bytesAtRva(partial, head, last.rva, 4), undefined, 'not among the bytes given');
    assert.throws(() => parseModule(bytes, { fileSize: 10 }), ModuleFormatError);
  });
});

describe('malformed ELF headers are refused with a reason', () => {
  const mutate = (edit: (v: DataView, b: Uint8Array) => void): Uint8Array => {
    const b = new Uint8Array(readFileSync(built.get('pie')!));
    edit(new DataView(b.buffer), b);
    return b;
  };
  /** Offset of the i-th program header of type `type`. */
  const phdr = (v: DataView, type: number, nth = 0): number => {
    const phoff = Number(v.getBigUint64(32, true));
    for (let i = 0, seen = 0; i < v.getUint16(56, true); i++)
      if (v.getUint32(phoff + i * 56, true) === type && seen++ === nth) return phoff + i * 56;
    assert.fail(`no program header of type ${type}`);
  };
  const cases: [string, (v: DataView, b: Uint8Array) => void, RegExp][] = [
    ['32-bit class', (_, b) => (b[4] = 1), /ELFCLASS64/],
    ['big-endian', (_, b) => (b[5] = 2), /little-endian/],
    ['relocatable object', (v) => v.setUint16(16, 1, true), /ET_EXEC nor ET_DYN/],
    ['aarch64', (v) => v.setUint16(18, 183, true), /not x86_64/],
    ['wrong phentsize', (v) => v.setUint16(54, 32, true), /e_phentsize/],
    ['no program headers', (v) => v.setUint16(56, 0, true), /e_phnum/],
    ['program headers past the end', (v, b) => v.setBigUint64(32, BigInt(b.length - 8), true), /truncated/],
    ['huge p_offset', (v) => v.setBigUint64(phdr(v, 1) + 8, 1n << 63n, true), /out of range/],
    ['PT_LOAD past the end', (v) => v.setBigUint64(phdr(v, 1) + 32, 1n << 40n, true), /past the end of the file/],
    ['p_filesz > p_memsz', (v) => v.setBigUint64(phdr(v, 1, 1) + 40, 1n, true), /p_filesz > p_memsz/],
    ['overlapping PT_LOADs', (v) => v.setBigUint64(phdr(v, 1, 1) + 16, 0n, true), /overlaps/],
    ['note size wraps', (v) => {
      for (let n = 0; ; n++) {
        const note = phdr(v, 4, n);
        const off = Number(v.getBigUint64(note + 8, true));
        if (v.getUint32(off + 8, true) === 3) return v.setUint32(off + 4, 0xffff_fffd, true); // NT_GNU_BUILD_ID descsz
      }
    }, /runs past its PT_NOTE/],
    ['no PT_LOAD', (v) => {
      for (let i = 0; i < v.getUint16(56, true); i++) {
        const o = Number(v.getBigUint64(32, true)) + i * 56;
        if (v.getUint32(o, true) === 1) v.setUint32(o, 0x6474e551, true);
      }
    }, /no PT_LOAD/],
  ];
  for (const [name, edit, message] of cases)
    test(name, () => assert.throws(() => parseModule(mutate(edit)), (e) => e instanceof ModuleFormatError && message.test(e.message)));

  test('non-modules', () => {
    for (const b of [new Uint8Array(0), new TextEncoder().encode('#!/bin/sh\n'), new Uint8Array([0x7f, 0x45, 0x4c, 0x46])])
      assert.throws(() => parseModule(b), ModuleFormatError);
  });
});
