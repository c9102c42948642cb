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
  GETREGS: 12,
  DETACH: 17,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
} as const;
const WALL = 0x40000000;
const ESRCH = 3;
/** Offset of rip in struct user_regs_struct (x86_64): the 17th 8-byte field. */
const RIP_OFFSET = 16 * 8;
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

/** Attach without stopping (SEIZE) and then stop the thread (INTERRUPT), waiting for the stop. */
export function seizeAndStop(tid: number): void {
  const { ptrace, waitpid } = load();
  check('PTRACE_SEIZE', tid, ptrace(PTRACE.SEIZE, tid, 0, 0));
  check('PTRACE_INTERRUPT', tid, ptrace(PTRACE.INTERRUPT, tid, 0, 0));
  const status = [0];
  check('waitpid', tid, waitpid(tid, status, WALL));
}

export function detach(tid: number): void {
  const { ptrace } = load();
  check('PTRACE_DETACH', tid, ptrace(PTRACE.DETACH, tid, 0, 0));
}

export function instructionPointer(tid: number): bigint {
  const { ptraceBuf } = load();
  const regs = Buffer.alloc(USER_REGS_SIZE);
  check('PTRACE_GETREGS', tid, ptraceBuf(PTRACE.GETREGS, tid, 0, regs));
  return regs.readBigUInt64LE(RIP_OFFSET);
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
