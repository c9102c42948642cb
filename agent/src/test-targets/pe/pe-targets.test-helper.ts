/**
 * Builds the PE test targets with mingw-w64 into a temp dir: target.exe (check_len inside the
 * EXE) and host.exe + flawed.dll (check_len inside a DLL the EXE imports). Both have the real
 * off-by-one of flaw-x64-win64.S; the RVAs come from mingw's nm, not from our own PE parser, so
 * the tests compare two independent readings. Protocol of the running targets: pe-target.c.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readModuleIdentity } from '@suture/shared/modules';
import type { ModuleIdentity, Patchlet } from '@suture/shared/schemas';
import { flawPatchlets } from '../elf-targets.test-helper.ts';

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const MINGW = 'x86_64-w64-mingw32';

export type PeVariant = 'exe' | 'dll';
export const PE_VARIANTS: PeVariant[] = ['exe', 'dll'];

export interface BuiltPeTarget {
  variant: PeVariant;
  /** the program to start (under Wine): `exe CMD_FILE REPLY_FILE` */
  exe: string;
  /** the file that holds check_len (the EXE itself, or flawed.dll) */
  module: string;
  identity: ModuleIdentity;
  checkLenRva: number;
  /** spin(): a thread parked there (command `spin`) keeps any change to it busy */
  spin: { rva: number; bytes: string };
  /** the two micropatches for the flaw, in the published schema (hex strings, module RVAs) */
  patchlets: { 'in-place': Patchlet[]; detour: Patchlet[] };
}

/** Why the PE targets cannot be built here, or undefined when they can. */
export function mingwMissing(): string | undefined {
  try {
    execFileSync(`${MINGW}-gcc`, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${MINGW}-gcc is not installed (apt-get install gcc-mingw-w64-x86-64-win32)`;
  }
}

/** RVA of `symbol`: nm's virtual address less the ImageBase objdump reports. */
async function symbolRva(module: string, symbol: string): Promise<number> {
  const [{ stdout: nm }, { stdout: headers }] = await Promise.all([run(`${MINGW}-nm`, [module]), run(`${MINGW}-objdump`, ['-p', module])]);
  const line = nm.split('\n').find((l) => l.endsWith(` ${symbol}`));
  const base = /^ImageBase\s+([0-9a-f]+)$/m.exec(headers)?.[1];
  if (!line || !base) throw new Error(`${symbol} or ImageBase not found in ${module}`);
  return Number(BigInt(`0x${line.split(' ')[0]}`) - BigInt(`0x${base}`));
}

export async function buildPeTargets(dir: string): Promise<Record<PeVariant, BuiltPeTarget>> {
  const gcc = `${MINGW}-gcc`;
  const main = join(here, 'pe-target.c');
  const flaw = join(here, 'flaw-x64-win64.S');
  const exe = join(dir, 'target.exe');
  const dll = join(dir, 'flawed.dll');
  const host = join(dir, 'host.exe');
  // -static-libgcc: nothing but KERNEL32 and msvcrt (and flawed.dll) needs to be found at run time.
  await run(gcc, ['-O2', '-static-libgcc', '-o', exe, main, flaw]);
  await run(gcc, ['-O2', '-static-libgcc', '-shared', '-DFLAW_DLL', '-o', dll, flaw]);
  await run(gcc, ['-O2', '-static-libgcc', '-o', host, main, dll]);
  const out = {} as Record<PeVariant, BuiltPeTarget>;
  for (const [variant, program, module] of [['exe', exe, exe], ['dll', host, dll]] as const) {
    const { parsed: _p, bytes: _b, ...identity } = await readModuleIdentity(module);
    const checkLenRva = await symbolRva(module, 'check_len');
    out[variant] = {
      variant,
      exe: program,
      module,
      identity,
      checkLenRva,
      spin: { rva: await symbolRva(module, 'spin'), bytes: '833900' + '74fb' + 'c3' },
      patchlets: flawPatchlets(checkLenRva, 'ecx'),
    };
  }
  return out;
}

/** Replies of the targets (as the ELF targets). */
export const FLAWED = 'ok=1 canary=smashed';
export const FIXED = 'ok=0 canary=intact';
export const NORMAL = 'ok=1 canary=intact';

/** A Linux path as Wine's Z: drive shows it. */
export const winePath = (p: string): string => `Z:${p.replace(/\//g, '\\')}`;
