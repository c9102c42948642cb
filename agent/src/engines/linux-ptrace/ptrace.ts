import { createRequire } from 'node:module';

/**
 * libc's ptrace/waitpid through koffi (no compiled code of ours). x86_64 Linux only.
 * Memory is read through /proc/PID/mem and written with PTRACE_POKEDATA while attached (some
 * kernels refuse writes to /proc/PID/mem even as root).
 */
const require = createRequire(import.meta.url);
type Koffi = typeof import('koffi');

export const PTRACE = {
  POKEDATA: 5,
  SINGLESTEP: 9,
  GETREGS: 12,
  SETREGS: 13,
  DETACH: 17,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
} as const;
const WALL = 0x40000000;
const ESRCH = 3;
const SIGTRAP = 5;
/** Field indexes of struct user_regs_struct (x86_64), 8 bytes each. */
export const REG = { r10: 7, r9: 8, r8: 9, rax: 10, rdx: 12, rsi: 13, rdi: 14, orig_rax: 15, rip: 16 } as const;
const USER_REGS_SIZE = 27 * 8;

export class PtraceError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
  get gone(): boolean {
    return this.errno === ESRCH;
  }
}

interface Libc {
  koffi: Koffi;
  ptrace: (req: number, pid: number, addr: bigint | number, data: bigint | number) => number | bigint;
  ptraceBuf: (req: number, pid: number, addr: bigint | number, data: Buffer) => number | bigint;
  waitpid: (pid: number, status: number[], options: number) => number;
  strerror: (errnum: number) => string;
}

let libc: Libc | undefined;
function load(): Libc {
  if (libc) return libc;
  const koffi = require('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  libc = {
    koffi,
    ptrace: lib.func('long ptrace(long request, int pid, uintptr_t addr, uintptr_t data)'),
    ptraceBuf: lib.func('ptrace', 'long', ['long', 'int', 'uintptr_t', 'void *']),
    waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)'),
    strerror: lib.func('const char *strerror(int errnum)'),
  };
  return libc;
}

function check(what: string, tid: number, r: number | bigint): void {
  if (Number(r) === -1) {
    const { koffi, strerror } = load();
    const e = koffi.errno();
    throw new PtraceError(`${what}(${tid}): ${strerror(e)}`, e);
  }
}

/** How a waited-for thread stopped (or that it is gone). */
export type StopKind = { stopped: true; signal: number; event: number } | { stopped: false };

function waitStop(tid: number): StopKind {
  const { waitpid } = load();
  const status = [0];
  check('waitpid', tid, waitpid(tid, status, WALL));
  const s = status[0]!;
  if ((s & 0xff) !== 0x7f) return { stopped: false }; // exited or killed
  return { stopped: true, signal: (s >> 8) & 0xff, event: (s >> 16) & 0xff };
}

/** Attach without stopping (SEIZE) and ask the thread to stop (INTERRUPT); `waitForStop` collects the stop. */
export function seizeAndInterrupt(tid: number): void {
  const { ptrace } = load();
  check('PTRACE_SEIZE', tid, ptrace(PTRACE.SEIZE, tid, 0, 0));
  check('PTRACE_INTERRUPT', tid, ptrace(PTRACE.INTERRUPT, tid, 0, 0));
}

/**
 * Waits until a seized thread stops. Returns a signal that was about to be delivered when it
 * stopped (0 if none): the caller must hand it back on detach, or the process would lose it.
 */
export function waitForStop(tid: number): number {
  const stop = waitStop(tid);
  if (!stop.stopped) throw new PtraceError(`thread ${tid} exited while stopping`, ESRCH);
  return stop.event === 0 && stop.signal !== SIGTRAP ? stop.signal : 0;
}

export function seizeAndStop(tid: number): number {
  seizeAndInterrupt(tid);
  return waitForStop(tid);
}

/** Detaches, delivering `signal` (one that arrived while the thread was held) if not 0. */
export function detach(tid: number, signal = 0): void {
  const { ptrace } = load();
  check('PTRACE_DETACH', tid, ptrace(PTRACE.DETACH, tid, 0, signal));
}

export function getRegs(tid: number): Buffer {
  const { ptraceBuf } = load();
  const regs = Buffer.alloc(USER_REGS_SIZE);
  check('PTRACE_GETREGS', tid, ptraceBuf(PTRACE.GETREGS, tid, 0, regs));
  return regs;
}

export function setRegs(tid: number, regs: Buffer): void {
  const { ptraceBuf } = load();
  check('PTRACE_SETREGS', tid, ptraceBuf(PTRACE.SETREGS, tid, 0, regs));
}

export const reg = (regs: Buffer, r: keyof typeof REG): bigint => regs.readBigUInt64LE(REG[r] * 8);
export function setReg(regs: Buffer, r: keyof typeof REG, v: bigint): void {
  regs.writeBigUInt64LE(BigInt.asUintN(64, v), REG[r] * 8);
}

/**
 * Executes one instruction. Returns a signal that arrived instead (to be re-delivered on
 * detach), or 0 when the step completed.
 */
export function singleStep(tid: number): number {
  const { ptrace } = load();
  check('PTRACE_SINGLESTEP', tid, ptrace(PTRACE.SINGLESTEP, tid, 0, 0));
  const stop = waitStop(tid);
  if (!stop.stopped) throw new PtraceError(`thread ${tid} exited during a single step`, ESRCH);
  return stop.event === 0 && stop.signal !== SIGTRAP ? stop.signal : 0;
}

/** Writes one aligned 8-byte word. */
export function pokeWord(pid: number, address: bigint, word: bigint): void {
  const { ptrace } = load();
  check('PTRACE_POKEDATA', pid, ptrace(PTRACE.POKEDATA, pid, address, word));
}

/** Whether koffi and libc's ptrace can be loaded here. */
export function ptraceAvailable(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, why: `linux-ptrace needs x86_64 Linux, not ${process.platform}/${process.arch}` };
  try {
    load();
    return { ok: true };
  } catch (err) {
    return { ok: false, why: `koffi/libc unavailable: ${(err as Error).message}` };
  }
}
