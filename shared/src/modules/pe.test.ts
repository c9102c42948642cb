/** The PE parser against mingw-w64 builds, checked against x86_64-w64-mingw32 nm and objdump. */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../encoding/index.ts';
import { bytesAtRva, ModuleFormatError, parseModule, readModuleIdentity } from './index.ts';
import {
  compile,
  disassembledBytes,
  fileOffsetOf,
  has,
  MINGW,
  MINGW_MISSING,
  objdumpPeHeaders,
  symbol,
  tempDir,
} from './binutils.test-helper.ts';

const available = has(`${MINGW}-gcc`);
const tmp = tempDir();
after(() => tmp.remove());

const CASES = [
  { name: 'flaw.exe', sources: ['main.c', 'flaw.c'], args: [] as string[] },
  { name: 'flaw.dll', sources: ['flaw.c'], args: ['-shared'] },
];
const built = new Map<string, string>();
before(() => {
  if (!available) return;
  for (const c of CASES) built.set(c.name, compile({ cc: `${MINGW}-gcc`, sources: c.sources, args: c.args, out: join(tmp.dir, c.name) }));
});

/** The built module, or a skip with the reason when there is no cross compiler. */
function module(t: TestContext, name: string): string | undefined {
  if (!available) {
    t.skip(MINGW_MISSING);
    return undefined;
  }
  return built.get(name)!;
}

describe('PE modules built with mingw-w64', () => {
  for (const c of CASES) {
    test(`${c.name}: RVA = symbol - ImageBase gives objdump's bytes; header fields match objdump -p`, async (t) => {
      const file = module(t, c.name);
      if (!file) return;
      const id = await readModuleIdentity(file);
      const { parsed } = id;
      assert.deepEqual([parsed.format, id.platform, id.arch, parsed.minVaddr, id.buildId], ['pe', 'windows', 'x86_64', 0, undefined]);
      const headers = objdumpPeHeaders(file);
      assert.equal(parsed.pe!.imageBase, headers.imageBase);
      assert.deepEqual(id.pe, { timeDateStamp: headers.timeDateStamp, sizeOfImage: headers.sizeOfImage });

      const objdump = `${MINGW}-objdump`;
      const nm = `${MINGW}-nm`;
      const vma = (name: string) => symbol({ nm, file, name });
      const rvaOf = (name: string) => Number(BigInt(vma(name)) - headers.imageBase);
      const rva = rvaOf('check_len');
      assert.equal(parsed.rvaToFileOffset(rva, 12), fileOffsetOf({ objdump, file, vma: vma('check_len') }));
      assert.notEqual(parsed.rvaToFileOffset(rva, 12), rva, 'file offsets differ from RVAs in PE');
      assert.equal(toHex(bytesAtRva(parsed, id.bytes, rva, 12)!), disassembledBytes({ objdump, file, name: 'check_len', n: 12 }));
      assert.ok(parsed.isExecutable(rva, 12));

      const counter = rvaOf('counter');
      assert.equal(parsed.rvaToFileOffset(counter, 4), fileOffsetOf({ objdump, file, vma: vma('counter') }));
      assert.equal(toHex(bytesAtRva(parsed, id.bytes, counter, 4)!), '07000000');
      assert.equal(parsed.isExecutable(counter, 4), false);
      const zeroed = rvaOf('zeroed');
      assert.equal(parsed.rvaToFileOffset(zeroed, 4), undefined, '.bss has no file bytes');
      assert.equal(parsed.isExecutable(zeroed, 4), false);

      const text = parsed.segments.find((s) => s.name === '.text');
      const data = parsed.segments.find((s) => s.name === '.data');
      assert.ok(text?.executable && !text.writable);
      assert.ok(data && !data.executable && data.writable);
    });
  }
});

describe('malformed PE headers are refused with a reason', () => {
  const mutate = (file: string, edit: (v: DataView, pe: number) => void): Uint8Array => {
    const b = new Uint8Array(readFileSync(file));
    const v = new DataView(b.buffer);
    edit(v, v.getUint32(0x3c, true));
    return b;
  };
  const section = (v: DataView, pe: number, i: number) => pe + 24 + v.getUint16(pe + 20, true) + i * 40;
  const cases: [string, (v: DataView, pe: number) => void, RegExp][] = [
    ['e_lfanew past the end', (v) => v.setUint32(0x3c, 0xffff_fff0, true), /truncated/],
    ['no PE signature', (v, pe) => v.setUint8(pe, 0x4e), /no PE signature/],
    ['i386', (v, pe) => v.setUint16(pe + 4, 0x14c, true), /not AMD64/],
    ['not an image', (v, pe) => v.setUint16(pe + 22, 0, true), /not an executable image/],
    ['PE32', (v, pe) => v.setUint16(pe + 24, 0x10b, true), /PE32 \(32-bit\)/],
    ['short optional header', (v, pe) => v.setUint16(pe + 20, 64, true), /too small/],
    ['no sections', (v, pe) => v.setUint16(pe + 6, 0, true), /no sections/],
    ['raw data past the end', (v, pe) => v.setUint32(section(v, pe, 0) + 16, 0x7fff_0000, true), /past the end of the file/],
    ['section past SizeOfImage', (v, pe) => v.setUint32(section(v, pe, 0) + 12, 0xffff_0000, true), /SizeOfImage/],
    ['overlapping sections', (v, pe) => v.setUint32(section(v, pe, 1) + 12, v.getUint32(section(v, pe, 0) + 12, true), true), /overlaps/],
  ];
  for (const [name, edit, message] of cases)
    test(name, (t) => {
      const file = module(t, 'flaw.dll');
      if (!file) return;
      assert.throws(() => parseModule(mutate(file, edit)), (e) => e instanceof ModuleFormatError && message.test(e.message));
    });

  test('headers-only parse with fileSize; truncated inside the section table', (t) => {
    const file = module(t, 'flaw.dll');
    if (!file) return;
    const b = new Uint8Array(readFileSync(file));
    const v = new DataView(b.buffer);
    const table = section(v, v.getUint32(0x3c, true), 0);
    const end = table + 40 * v.getUint16(v.getUint32(0x3c, true) + 6, true);
    assert.deepEqual(parseModule(b.subarray(0, end), { fileSize: b.length }).segments, parseModule(b).segments);
    assert.throws(
      () => parseModule(b.subarray(0, end - 20), { fileSize: b.length }),
      (e) => e instanceof ModuleFormatError && /truncated/.test(e.message),
    );
  });

  test('a bare MZ header', () => assert.throws(() => parseModule(new Uint8Array([0x4d, 0x5a, 0, 0])), ModuleFormatError));
});
