/**
 * The parser against real modules compiled here, checked against binutils' own view of them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { toHex } from '../encoding/index.ts';
import { bytesAtRva, ModuleFormatError, parseModule, readModuleIdentity } from './index.ts';

const SRC = `
int counter = 7;
__attribute__((noinline)) int check_len(int n) { return n <= 16 ? n * 3 + counter : -1; }
int main(int argc, char **argv) { (void)argv; return check_len(argc); }
`;
const LIB_SRC = `int counter = 7;\n__attribute__((noinline)) int check_len(int n) { return n <= 16 ? n * 3 + counter : -1; }\n`;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Symbol value from nm. */
function symbol(nm: string, file: string, name: string): number {
  const line = execFileSync(nm, [file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\n')
    .find((l) => l.endsWith(` ${name}`) && / [Tt] /.test(l));
  assert.ok(line, `${name} not in ${file}`);
  return parseInt(line.split(' ')[0]!, 16);
}

/** The function's first bytes as objdump disassembles them. */
function objdumpBytes(objdump: string, file: string, name: string, n: number): string {
  const out = execFileSync(objdump, ['-d', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const block = out.split('\n\n').find((b) => b.includes(`<${name}>:`));
  assert.ok(block, `no ${name} in objdump output`);
  const hex = [...block.matchAll(/^\s*[0-9a-f]+:\t([0-9a-f ]+?)\s*(\t|$)/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
  return hex.slice(0, n * 2);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'suture-modules-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

describe('ELF modules built with gcc', () => {
  const cases = [
    { name: 'pie', args: ['-fPIE', '-pie'], src: SRC, type: 'dyn' },
    { name: 'nopie', args: ['-fno-pie', '-no-pie'], src: SRC, type: 'exec' },
    { name: 'lib.so', args: ['-shared', '-fPIC'], src: LIB_SRC, type: 'dyn' },
    { name: 'static', args: ['-static'], src: SRC, type: 'exec' },
  ] as const;
  for (const c of cases) {
    test(`${c.name}: RVA of a function maps to the bytes objdump shows; build-id matches readelf`, async () => {
      const out = join(dir, c.name);
      execFileSync('gcc', ['-O1', '-Wl,--build-id', ...c.args, '-o', out, '-x', 'c', '-'], { input: c.src });
      const id = await readModuleIdentity(out);
      assert.equal(id.platform, 'linux');
      assert.equal(id.parsed.elfType, c.type);
      const vaddr = symbol('nm', out, 'check_len');
      const rva = vaddr - id.parsed.minVaddr;
      if (c.type === 'exec') assert.ok(id.parsed.minVaddr >= 0x400000, 'non-PIE base subtracted');
      else assert.equal(id.parsed.minVaddr, 0);
      const got = bytesAtRva(id.parsed, id.bytes, rva, 12);
      assert.ok(got);
      assert.equal(toHex(got), objdumpBytes('objdump', out, 'check_len', 12));
      assert.ok(id.parsed.isExecutable(rva, 12));
      const notes = execFileSync('readelf', ['-n', out], { encoding: 'utf8' });
      assert.equal(id.buildId, /Build ID: ([0-9a-f]+)/.exec(notes)![1]);
    });
  }

  test('data is not executable; ranges beyond the file-backed part have no file offset', async () => {
    const out = join(dir, 'pie');
    const id = await readModuleIdentity(out);
    const dataLine = execFileSync('nm', [out], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(' counter'))!;
    const rva = parseInt(dataLine.split(' ')[0]!, 16);
    assert.equal(id.parsed.isExecutable(rva, 4), false);
    assert.equal(toHex(bytesAtRva(id.parsed, id.bytes, rva, 4)!), '07000000');
    assert.equal(id.parsed.rvaToFileOffset(0x7fffffff, 4), undefined);
  });
});

describe('PE modules built with mingw-w64', () => {
  const cc = 'x86_64-w64-mingw32-gcc';
  for (const c of [
    { name: 'demo.exe', args: [] as string[], src: SRC },
    { name: 'demo.dll', args: ['-shared'], src: LIB_SRC },
  ]) {
    test(`${c.name}: RVA = symbol - ImageBase maps to objdump's bytes; header fields match`, async (t) => {
      if (!has(cc)) return t.skip(`${cc} not installed: apt-get install gcc-mingw-w64-x86-64-win32`);
      const out = join(dir, c.name);
      execFileSync(cc, ['-O1', ...c.args, '-o', out, '-x', 'c', '-'], { input: c.src });
      const id = await readModuleIdentity(out);
      assert.equal(id.platform, 'windows');
      const headers = execFileSync('x86_64-w64-mingw32-objdump', ['-p', out], { encoding: 'utf8' });
      const imageBase = BigInt(`0x${/ImageBase\s+([0-9a-f]+)/.exec(headers)![1]}`);
      assert.equal(id.parsed.pe!.imageBase, imageBase);
      assert.equal(id.pe!.sizeOfImage, parseInt(/SizeOfImage\s+([0-9a-f]+)/.exec(headers)![1]!, 16));
      const raw = Buffer.from(id.bytes);
      assert.equal(id.pe!.timeDateStamp, raw.readUInt32LE(raw.readUInt32LE(0x3c) + 8));
      const rva = Number(BigInt(symbol('x86_64-w64-mingw32-nm', out, 'check_len')) - imageBase);
      const got = bytesAtRva(id.parsed, id.bytes, rva, 12);
      assert.ok(got);
      assert.equal(toHex(got), objdumpBytes('x86_64-w64-mingw32-objdump', out, 'check_len', 12));
      assert.ok(id.parsed.isExecutable(rva, 12));
      const text = id.parsed.segments.find((s) => s.name === '.text')!;
      assert.notEqual(text.fileOffset, text.rva, 'file offset differs from RVA');
    });
  }
});

describe('malformed input', () => {
  test('non-modules are refused with ModuleFormatError', () => {
    assert.throws(() => parseModule(new TextEncoder().encode('#!/bin/sh\n')), ModuleFormatError);
    assert.throws(() => parseModule(new Uint8Array([0x7f, 0x45, 0x4c, 0x46])), ModuleFormatError);
    assert.throws(() => parseModule(new Uint8Array([0x4d, 0x5a, 0, 0])), ModuleFormatError);
  });

  test('truncated and mutated real modules: a result or ModuleFormatError, nothing else', async () => {
    const bytes = new Uint8Array(await readFile(join(dir, 'lib.so')));
    fc.assert(
      fc.property(fc.nat({ max: bytes.length }), fc.array(fc.tuple(fc.nat({ max: 4095 }), fc.integer({ min: 0, max: 255 })), { maxLength: 16 }), (cut, flips) => {
        const b = bytes.slice(0, cut);
        for (const [i, v] of flips) if (i < b.length) b[i] = v;
        try {
          const p = parseModule(b);
          p.rvaToFileOffset(0x1000, 16);
          p.isExecutable(0x1000, 16);
        } catch (err) {
          if (!(err instanceof ModuleFormatError)) throw err;
        }
      }),
      { numRuns: 400 },
    );
  });
});
