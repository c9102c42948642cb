/**
 * Builds the ELF test targets with gcc (PIE, non-PIE, static, a shared library, a library loaded
 * later with dlopen) from target.c and the flawed check_len in flaw-x64-sysv.S, and drives them.
 * Each has the same real off-by-one (see target.c) and the same two micropatches.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readModuleIdentity } from '@suture/shared/modules';
import type { ModuleIdentity, Patchlet } from '@suture/shared/schemas';

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

export type ElfVariant = 'pie' | 'nonpie' | 'static' | 'shared' | 'dlopen';
export const ELF_VARIANTS: ElfVariant[] = ['pie', 'nonpie', 'static', 'shared', 'dlopen'];

export interface BuiltTarget {
  variant: ElfVariant;
  exe: string;
  /** the file that holds check_len (the executable, or libflaw.so) */
  module: string;
  identity: ModuleIdentity;
  env: Record<string, string>;
  /** RVA of check_len in `module` */
  checkLenRva: number;
}

/** Whether gcc can build the targets here; the reason otherwise. */
export function gccMissing(): string | undefined {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'gcc is not installed (scripts/test.sh installs it with apt as root)';
  }
}

async function symbolRva(module: string, symbol: string): Promise<number> {
  const { stdout } = await run('nm', [module]);
  const line = stdout.split('\n').find((l) => l.endsWith(` ${symbol}`));
  if (!line) throw new Error(`${symbol} not found in ${module}`);
  const id = await readModuleIdentity(module);
  return parseInt(line.split(' ')[0]!, 16) - id.parsed.minVaddr;
}

export async function buildElfTargets(dir: string, variants: ElfVariant[] = ELF_VARIANTS): Promise<Record<ElfVariant, BuiltTarget>> {
  const src = join(here, 'target.c');
  const flaw = join(here, 'flaw-x64-sysv.S');
  const lib = join(dir, 'libflaw.so');
  // A build id of its own makes every module unique to this build: an agent elsewhere on the
  // machine (another test run, say) matches its own copies by hash and never patches ours.
  const buildId = `-Wl,--build-id=0x${randomBytes(20).toString('hex')}`;
  await run('gcc', ['-O2', '-shared', '-fPIC', buildId, '-o', lib, flaw]);
  const builds: Record<ElfVariant, { args: string[]; module?: string; env?: Record<string, string> }> = {
    pie: { args: ['-fPIE', '-pie', src, flaw] },
    nonpie: { args: ['-fno-pie', '-no-pie', src, flaw] },
    static: { args: ['-static', src, flaw] },
    shared: { args: [src, lib, `-Wl,-rpath,${dir}`], module: lib },
    dlopen: { args: ['-DUSE_DLOPEN', src, '-ldl'], module: lib, env: { FLAW_LIB: lib } },
  };
  const out = {} as Record<ElfVariant, BuiltTarget>;
  for (const variant of variants) {
    const b = builds[variant];
    const exe = join(dir, `target-${variant}`);
    await run('gcc', ['-O2', '-pthread', buildId, '-o', exe, ...b.args]);
    const module = b.module ?? exe;
    const { parsed: _p, bytes: _b, ...identity } = await readModuleIdentity(module);
    out[variant] = { variant, exe, module, identity, env: b.env ?? {}, checkLenRva: await symbolRva(module, 'check_len') };
  }
  return out;
}

/**
 * The two micropatches for check_len at `rva` (SysV: n in edi). In place: `jg` (7f) becomes
 * `jge` (7d). Detour: `cmp $16,%edi; jg` (5 bytes) becomes a jump to `cmp $15,%edi; jg reject;
 * jmp accept`, both back into the module.
 */
export function flawPatchlets(rva: number, reg: 'edi' | 'ecx' = 'edi'): { 'in-place': Patchlet[]; detour: Patchlet[] } {
  const modrm = reg === 'edi' ? 'ff' : 'f9';
  return {
    'in-place': [{ kind: 'in-place', rva: rva + 3, expect: '7f06', write: '7d06' }],
    detour: [
      {
        kind: 'detour',
        rva,
        expect: `83${modrm}107f06`,
        code: `83${modrm}0f0f8f00000000e900000000`, // rel32 fields filled by the engine
        relocations: [
          { offset: 5, type: 'rel32', targetRva: rva + 11 },
          { offset: 10, type: 'rel32', targetRva: rva + 5 },
        ],
      },
    ],
  };
}

/** A running target: send a command line, get its reply line. */
export interface RunningTarget {
  child: ChildProcess;
  pid: number;
  send(cmd: string): Promise<string>;
  /** the reply to probing with 16: `ok=1 canary=smashed` while the flaw is there */
  probe(): Promise<string>;
  stop(): Promise<void>;
}

export const FLAWED = 'ok=1 canary=smashed';
export const FIXED = 'ok=0 canary=intact';
export const NORMAL = 'ok=1 canary=intact';

/** `wrap`: a command that runs the target, e.g. `nsenter` into a PID namespace (`pid` is then the wrapper's). */
export async function startTarget(t: BuiltTarget, opts: { threads?: number; wrap?: string[] } = {}): Promise<RunningTarget> {
  const [cmd, ...args] = [...(opts.wrap ?? []), t.exe, String(opts.threads ?? 0)];
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...t.env } });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  const early: string[] = [];
  lines.on('line', (l) => (waiting.length ? waiting.shift()!(l) : early.push(l)));
  const next = () => new Promise<string>((resolve, reject) => {
    if (early.length) return resolve(early.shift()!);
    const timer = setTimeout(() => reject(new Error(`target ${t.variant} (pid ${child.pid}) did not answer within 5 s`)), 5000);
    waiting.push((l) => (clearTimeout(timer), resolve(l)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if ((await next()) !== 'ready') throw new Error(`target ${t.variant} did not start`);
  const send = async (cmd: string) => {
    child.stdin!.write(`${cmd}\n`);
    return next();
  };
  return {
    child,
    pid: child.pid!,
    send,
    probe: () => send('16'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
