import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '@suture/shared/encoding';
import { parseMaps, type Mapping } from '../../inventory/proc-maps.ts';
import { parseStat } from '../../inventory/processes.ts';
import type { RefusalReason } from '../engine.ts';
import { detach, getRegs, pokeWord, PtraceError, reg, seizeAndInterrupt, setReg, setRegs, singleStep, waitForStop } from './ptrace.ts';

/** An address range `[start, end)` no thread may be executing in while it changes. */
export interface Range {
  start: bigint;
  end: bigint;
}

/** Thrown inside a stop window to end it with a refusal (nothing is left changed by the thrower). */
export class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export type WindowResult<T> =
  | { outcome: 'ran'; value: T }
  | { outcome: 'refused'; reason: RefusalReason; detail: string }
  | { outcome: 'busy'; detail: string }
  | { outcome: 'failed'; reason: string; detail: string };

/** What a function can do with a process while every one of its threads is held. */
export interface StoppedProcess {
  pid: number;
  tids: number[];
  maps(): Mapping[];
  read(address: bigint, length: number): Uint8Array;
  /** Writes with POKEDATA word by word, then reads back; throws if memory does not hold `bytes`. */
  write(address: bigint, bytes: Uint8Array): void;
  /** Runs one system call in a held thread with every register restored after; returns rax. */
  syscall(nr: number, args: bigint[]): bigint;
}

const MAX_STABLE_SCANS = 50;
/** Instructions a thread found inside a region may run to leave it before we call it busy. */
const MAX_STEP_OUT = 64;

function startTimeOf(pid: number): bigint | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime;
  } catch {
    return undefined;
  }
}

const field = (status: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);

/**
 * Seizes and stops every thread of `pid` (re-reading the thread list until no new thread
 * appears), checks that the pid still names the process started at `startTime` and that no
 * thread is executing inside `avoid` (else releases everything, backs off and retries, then
 * reports busy), runs `fn`, and detaches every thread on every path, re-delivering any signal
 * that arrived while they were held.
 */
export async function withStoppedProcess<T>(
  opts: { pid: number; startTime: bigint; avoid: Range[]; attempts?: number; backoffMs?: number },
  fn: (p: StoppedProcess) => T,
): Promise<WindowResult<T>> {
  const { pid, avoid } = opts;
  const attempts = opts.attempts ?? 10;
  let busy = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep((opts.backoffMs ?? 1) * 2 ** Math.min(attempt, 6));
    if (startTimeOf(pid) !== opts.startTime) return { outcome: 'refused', reason: 'gone', detail: `process ${pid} (started at ${opts.startTime}) no longer exists` };
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return { outcome: 'refused', reason: 'gone', detail: `process ${pid} no longer exists` };
    }
    const tracer = field(status, 'TracerPid');
    if (tracer !== 0) return { outcome: 'refused', reason: 'already-traced', detail: `process ${pid} is traced by ${tracer}` };

    const held = new Map<number, number>(); // tid -> signal to re-deliver
    let fd = -1;
    try {
      for (let scan = 0, grew = true; grew; scan++) {
        if (scan > MAX_STABLE_SCANS) return { outcome: 'busy', detail: 'the thread list did not settle' };
        grew = false;
        // Ask every thread to stop first and collect the stops after: threads waiting for a CPU
        // then stop together instead of one scheduler slice each.
        const asked: number[] = [];
        for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
          if (held.has(tid)) continue;
          try {
            seizeAndInterrupt(tid);
            held.set(tid, 0);
            asked.push(tid);
            grew = true;
          } catch (err) {
            if (err instanceof PtraceError && err.gone) continue; // the thread exited meanwhile
            throw err;
          }
        }
        for (const tid of asked) {
          try {
            held.set(tid, waitForStop(tid));
          } catch (err) {
            if (err instanceof PtraceError && err.gone) held.delete(tid);
            else throw err;
          }
        }
      }
      // Held now: the pid cannot be reused until we let go, so this check is final.
      if (startTimeOf(pid) !== opts.startTime) return { outcome: 'refused', reason: 'gone', detail: `pid ${pid} now names another process` };
      const tids = [...held.keys()];
      const inside = tids.map((tid) => ({ tid, ip: stepOut(tid, avoid, held) })).find(({ ip }) => ip !== undefined);
      if (inside?.ip !== undefined) {
        busy = `thread ${inside.tid} is executing at 0x${inside.ip.toString(16)}, inside a region being changed`;
        continue; // released in finally, then back off
      }
      fd = openSync(`/proc/${pid}/mem`, 'r');
      const value = fn(stoppedProcess(pid, tids, fd, held));
      return { outcome: 'ran', value };
    } catch (err) {
      if (err instanceof Refusal) return { outcome: 'refused', reason: err.reason, detail: err.message };
      if (err instanceof PtraceError && err.gone) return { outcome: 'refused', reason: 'gone', detail: `process ${pid} exited during the change` };
      return { outcome: 'failed', reason: err instanceof PtraceError ? 'ptrace' : 'error', detail: (err as Error).message };
    } finally {
      if (fd >= 0) closeSync(fd);
      for (const [tid, signal] of held) {
        try {
          detach(tid, signal);
        } catch {
          /* a thread that exited is already detached */
        }
      }
    }
  }
  return { outcome: 'busy', detail: `${busy} (after ${attempts} attempts)` };
}

/**
 * A thread held inside a region is single-stepped until it leaves (straight-line patch code
 * takes a few steps); returns its address if it is still inside, e.g. looping there or blocked
 * in a system call (never stepped: that would resume the call and could block).
 */
function stepOut(tid: number, avoid: Range[], held: Map<number, number>): bigint | undefined {
  const within = (ip: bigint) => avoid.some((r) => ip >= r.start && ip < r.end);
  for (let i = 0; ; i++) {
    const regs = getRegs(tid);
    const ip = reg(regs, 'rip');
    if (!within(ip)) return undefined;
    if (i === MAX_STEP_OUT || BigInt.asIntN(64, reg(regs, 'orig_rax')) >= 0) return ip;
    const signal = singleStep(tid);
    if (signal !== 0 && !held.get(tid)) held.set(tid, signal);
  }
}

function stoppedProcess(pid: number, tids: number[], fd: number, held: Map<number, number>): StoppedProcess {
  const read = (address: bigint, length: number): Uint8Array => {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, Number(address));
    if (n !== length) throw new Error(`short read of ${length} bytes at 0x${address.toString(16)}`);
    return new Uint8Array(buf);
  };
  let syscallAt: bigint | undefined;
  const maps = () => parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));

  /** Any `syscall` (0f 05) in executable memory will do: the thread runs exactly one instruction there. */
  function findSyscallInstruction(): bigint {
    if (syscallAt !== undefined) return syscallAt;
    const exec = maps().filter((m) => m.perms[2] === 'x' && m.path !== '[vsyscall]');
    exec.sort((a, b) => (a.path === '[vdso]' ? -1 : b.path === '[vdso]' ? 1 : 0));
    let budget = 8 * 1024 * 1024;
    for (const m of exec) {
      const len = Number(m.end - m.start < BigInt(budget) ? m.end - m.start : BigInt(budget));
      budget -= len;
      let bytes: Buffer;
      try {
        bytes = Buffer.from(read(m.start, len));
      } catch {
        continue;
      }
      const at = bytes.indexOf(Buffer.from([0x0f, 0x05]));
      if (at >= 0) return (syscallAt = m.start + BigInt(at));
      if (budget <= 0) break;
    }
    throw new Refusal('unsafe', 'no syscall instruction in executable memory to borrow for the injected mmap');
  }

  return {
    pid,
    tids,
    maps,
    read,
    write(address, bytes) {
      const start = address & ~7n;
      const end = (address + BigInt(bytes.length) + 7n) & ~7n;
      const words = Buffer.from(read(start, Number(end - start)));
      Buffer.from(bytes).copy(words, Number(address - start));
      for (let off = 0n; start + off < end; off += 8n) pokeWord(pid, start + off, words.readBigUInt64LE(Number(off)));
      const back = read(address, bytes.length);
      if (toHex(back) !== toHex(bytes)) throw new Error(`read back ${toHex(back)} at 0x${address.toString(16)}, wrote ${toHex(bytes)}`);
    },
    syscall(nr, args) {
      const tid = tids.includes(pid) ? pid : tids[0]!;
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      if (field(status, 'Seccomp') !== 0) throw new Refusal('unsafe', `thread ${tid} runs under a seccomp filter: an injected system call could kill the process`);
      const at = findSyscallInstruction();
      const saved = getRegs(tid);
      const regs = Buffer.from(saved);
      setReg(regs, 'rax', BigInt(nr));
      (['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const).forEach((r, i) => setReg(regs, r, args[i] ?? 0n));
      setReg(regs, 'orig_rax', -1n); // not inside a system call: the kernel must not restart one
      setReg(regs, 'rip', at);
      setRegs(tid, regs);
      try {
        for (let i = 0; i < 8; i++) {
          const signal = singleStep(tid);
          if (signal !== 0 && !held.get(tid)) held.set(tid, signal); // deliver it after we let go
          const now = getRegs(tid);
          if (reg(now, 'rip') === at + 2n) return BigInt.asIntN(64, reg(now, 'rax'));
        }
        throw new Error(`thread ${tid} did not run the injected system call`);
      } finally {
        setRegs(tid, saved);
      }
    },
  };
}
