/**
 * Builds real modules from fixtures/ into a temp dir and asks binutils (not our parser) where
 * things are, so the tests compare two independent readings of the same file.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const MINGW = 'x86_64-w64-mingw32';
export const MINGW_MISSING = `${MINGW}-gcc not installed: apt-get install gcc-mingw-w64-x86-64-win32`;

export const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

export const run = (cmd: string, args: string[], env?: NodeJS.ProcessEnv): string =>
  execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: env ?? process.env });

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'suture-modules-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Compiles fixture sources (names under fixtures/) with `cc`. */
export function compile(opts: { cc: string; sources: string[]; args: string[]; out: string }): string {
  // Sources before the flags, so that -l finds the references it must resolve.
  run(opts.cc, ['-O1', '-o', opts.out, ...opts.sources.map((s) => join(FIXTURES, s)), ...opts.args]);
  return opts.out;
}

/** A symbol's value (a virtual address, image base included) from nm. */
export function symbol(opts: { nm: string; file: string; name: string }): number {
  const line = run(opts.nm, [opts.file])
    .split('\n')
    .find((l) => l.endsWith(` ${opts.name}`));
  assert.ok(line, `${opts.name} not in nm ${opts.file}`);
  return parseInt(line.split(' ')[0]!, 16);
}

/** The first `n` bytes of a function as objdump disassembles them, hex. */
export function disassembledBytes(opts: { objdump: string; file: string; name: string; n: number }): string {
  const out = run(opts.objdump, ['-d', `--disassemble=${opts.name}`, opts.file]);
  const block = out.slice(out.indexOf(`<${opts.name}>:`));
  assert.ok(block.length > 0, `no ${opts.name} in objdump -d`);
  const hex = [...block.matchAll(/^\s*[0-9a-f]+:\t([0-9a-f ]+?)\s*(?:\t|$)/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
  assert.ok(hex.length >= opts.n * 2, `objdump shows fewer than ${opts.n} bytes of ${opts.name}`);
  return hex.slice(0, opts.n * 2);
}

/** File offset of a virtual address, from the section table objdump -h prints (VMA and "File off"). */
export function fileOffsetOf(opts: { objdump: string; file: string; vma: number }): number {
  for (const l of run(opts.objdump, ['-h', '-w', opts.file]).split('\n')) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s/.exec(l);
    if (!m) continue;
    const [size, vma, off] = [parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[4]!, 16)];
    if (opts.vma >= vma && opts.vma < vma + size) return off + (opts.vma - vma);
  }
  assert.fail(`0x${opts.vma.toString(16)} is in no section of ${opts.file}`);
}

/** readelf's build-id, or undefined. */
export const readelfBuildId = (file: string): string | undefined => /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', file]))?.[1];

/** Lowest PT_LOAD p_vaddr as readelf -l lists it. */
export function readelfLowestLoad(file: string): number {
  const vaddrs = [...run('readelf', ['-l', '-W', file]).matchAll(/^\s*LOAD\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/gm)].map((m) => parseInt(m[1]!, 16));
  assert.ok(vaddrs.length > 0, `readelf shows no LOAD in ${file}`);
  return Math.min(...vaddrs);
}

/** Header fields objdump -p prints for a PE image; Time/Date is ctime, read in UTC. */
export function objdumpPeHeaders(file: string): { imageBase: bigint; sizeOfImage: number; timeDateStamp: number } {
  const p = run(`${MINGW}-objdump`, ['-p', file], { ...process.env, TZ: 'UTC' });
  const field = (name: string) => new RegExp(`^${name}\\s+(.+)$`, 'm').exec(p)?.[1]?.trim() ?? assert.fail(`no ${name} in objdump -p`);
  const t = /^\w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(field('Time/Date')) ?? assert.fail('unexpected Time/Date');
  const month = 'JanFebMarAprMayJunJulAugSepOctNovDec'.indexOf(t[1]!) / 3;
  return {
    imageBase: BigInt(`0x${field('ImageBase')}`),
    sizeOfImage: parseInt(field('SizeOfImage'), 16),
    timeDateStamp: Date.UTC(Number(t[6]), month, Number(t[2]), Number(t[3]), Number(t[4]), Number(t[5])) / 1000,
  };
}
