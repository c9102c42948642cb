/**
 * Mutated and truncated real modules: the parser returns a consistent result or throws
 * ModuleFormatError, never anything else (RangeError, TypeError) and never loops for long.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { bytesAtRva, ModuleFormatError, moduleIdentity, parseModule, type ParsedModule } from './index.ts';
import { compile, has, MINGW, MINGW_MISSING, tempDir } from './binutils.test-helper.ts';

const tmp = tempDir();
after(() => tmp.remove());
const modules = new Map<string, Uint8Array>();
before(() => {
  const build = (name: string, cc: string, args: string[]) =>
    modules.set(name, new Uint8Array(readFileSync(compile({ cc, sources: ['flaw.c'], args, out: join(tmp.dir, name) }))));
  build('libflaw.so', 'gcc', ['-shared', '-fPIC', '-Wl,--build-id']);
  if (has(`${MINGW}-gcc`)) build('flaw.dll', `${MINGW}-gcc`, ['-shared']);
});

/** Edits aimed at the headers (first 4 KiB): single bytes, and 32/64-bit fields set to edge values. */
const edit = fc.oneof(
  fc.record({ at: fc.nat({ max: 4095 }), bytes: fc.integer({ min: 0, max: 255 }).map((x) => [x]) }),
  fc.record({
    at: fc.nat({ max: 1023 }).map((x) => x * 4),
    bytes: fc.oneof(fc.constantFrom(0, 1, 8, 4096, 0x7fff_ffff, 0x8000_0000, 0xffff_fffd, 0xffff_ffff), fc.nat()).map(le32),
  }),
  fc.record({
    at: fc.nat({ max: 511 }).map((x) => x * 8),
    bytes: fc.constantFrom(0n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n).map(le64),
  }),
);

function le32(x: number): number[] {
  return [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
}
function le64(x: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));
}

/** A parse result must be usable: sorted disjoint segments inside the file, lookups that never throw. */
function exercise(parsed: ParsedModule, bytes: Uint8Array, fileSize: number): void {
  let end = 0;
  for (const s of parsed.segments) {
    assert.ok(s.rva >= end, 'segments sorted and disjoint');
    assert.ok(s.fileSize <= s.memSize && s.fileOffset + s.fileSize <= fileSize, 'file-backed part inside the file');
    end = s.rva + s.memSize;
  }
  for (const s of parsed.segments.slice(0, 32)) {
    for (const rva of [s.rva, s.rva + s.fileSize - 4, s.rva + s.memSize - 1]) {
      const got = bytesAtRva(parsed, bytes, rva, 4);
      assert.ok(got === undefined || got.length === 4);
      assert.equal(typeof parsed.isExecutable(rva, 4), 'boolean');
    }
  }
  const id = moduleIdentity({ bytes, name: 'fuzzed', parsed });
  assert.ok(id.buildId === undefined || /^[0-9a-f]{8,128}$/.test(id.buildId));
}

function expectParsedOrFormatError(run: () => void): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof ModuleFormatError)) throw err;
  }
}

describe('fuzzed modules', () => {
  for (const name of ['libflaw.so', 'flaw.dll']) {
    test(`${name}: mutated headers, truncated files, headers-only prefixes`, (t) => {
      const original = modules.get(name);
      if (!original) return t.skip(MINGW_MISSING);
      assert.doesNotThrow(() => parseModule(original));
      fc.assert(
        fc.property(
          fc.oneof(fc.constant(original.length), fc.nat({ max: original.length })),
          fc.array(edit, { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          (cut, edits, prefix) => {
            const b = original.slice();
            for (const e of edits) b.set(e.bytes.slice(0, Math.max(0, b.length - e.at)), e.at);
            const given = b.subarray(0, cut);
            const fileSize = prefix ? b.length : cut;
            expectParsedOrFormatError(() => exercise(parseModule(given, { fileSize }), given, fileSize));
          },
        ),
        { numRuns: 3000 },
      );
    });
  }
});
