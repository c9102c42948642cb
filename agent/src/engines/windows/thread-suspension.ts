import { ACCESS, CONTEXT, kernel32, lastError, THREADENTRY32, TH32CS, withSnapshot } from './kernel32.ts';

/** A suspended thread of the target and where it stands. */
export interface SuspendedThread {
  tid: number;
  handle: number;
  rip: bigint;
}

const MAX_SCANS = 50;
const SUSPEND_FAILED = 0xffffffff;

/** Thread ids of `pid` from a fresh toolhelp snapshot (it lists every thread of the system). */
function threadIds(pid: number): number[] {
  const k = kernel32();
  return withSnapshot(TH32CS.SNAPTHREAD, 0, (snap) => {
    const entry = Buffer.alloc(THREADENTRY32.SIZE);
    entry.writeUInt32LE(THREADENTRY32.SIZE, 0);
    const tids: number[] = [];
    for (let ok = k.Thread32First(snap, entry); ok; ok = k.Thread32Next(snap, entry)) {
      if (entry.readUInt32LE(THREADENTRY32.OWNER) === pid) tids.push(entry.readUInt32LE(THREADENTRY32.TID));
      entry.writeUInt32LE(THREADENTRY32.SIZE, 0);
    }
    return tids;
  });
}

/**
 * The instruction pointer of a suspended thread. SuspendThread is asynchronous; GetThreadContext
 * waits until the thread is really stopped, so after this call the thread is known to be held.
 * CONTEXT must be 16-byte aligned, which a JS Buffer does not promise: it lives in memory from
 * koffi.alloc, at an aligned address inside it.
 */
function instructionPointer(handle: number, tid: number): bigint {
  const k = kernel32();
  const raw = k.koffi.alloc('uint8_t', CONTEXT.SIZE + 16);
  try {
    const at = k.koffi.address(raw);
    const aligned = (at + 15n) & ~15n;
    const view = Buffer.from(k.koffi.view(raw, CONTEXT.SIZE + 16));
    const skew = Number(aligned - at);
    view.fill(0);
    view.writeUInt32LE(CONTEXT.CONTROL, skew + CONTEXT.FLAGS);
    if (!k.GetThreadContext(handle, aligned)) throw lastError(`GetThreadContext(thread ${tid})`);
    return view.readBigUInt64LE(skew + CONTEXT.RIP);
  } finally {
    k.koffi.free(raw);
  }
}

/** Resumes and closes every thread of `threads` (each once); never throws, so it is safe in finally. */
export function resumeAll(threads: SuspendedThread[]): string[] {
  const k = kernel32();
  const problems: string[] = [];
  for (const t of threads.splice(0)) {
    if (k.ResumeThread(t.handle) === SUSPEND_FAILED) problems.push(`ResumeThread(${t.tid}) failed (Win32 error ${k.GetLastError()})`);
    k.CloseHandle(t.handle);
  }
  return problems;
}

/**
 * Suspends every thread of `pid` into `into` (re-reading the thread list until no new thread
 * appears, since a running thread may create another) and reads each one's Rip. Threads that
 * exit meanwhile are skipped. The caller resumes `into` in a finally, including when this throws
 * half-way: every suspended thread is in `into` as soon as it is suspended.
 */
export function suspendAll(pid: number, into: SuspendedThread[]): { settled: boolean } {
  const k = kernel32();
  const access = ACCESS.THREAD_SUSPEND_RESUME | ACCESS.THREAD_GET_CONTEXT | ACCESS.THREAD_QUERY_LIMITED_INFORMATION;
  for (let scan = 0; scan < MAX_SCANS; scan++) {
    let grew = false;
    for (const tid of threadIds(pid)) {
      if (into.some((t) => t.tid === tid)) continue;
      const handle = k.OpenThread(access, false, tid);
      if (!handle) continue; // the thread exited between the snapshot and now
      if (k.SuspendThread(handle) === SUSPEND_FAILED) {
        k.CloseHandle(handle); // exiting: it runs no more of the code we change
        continue;
      }
      const t: SuspendedThread = { tid, handle, rip: 0n };
      into.push(t);
      t.rip = instructionPointer(handle, tid);
      grew = true;
    }
    if (!grew) return { settled: true };
  }
  return { settled: false };
}
