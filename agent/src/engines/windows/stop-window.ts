import { setTimeout as sleep } from 'node:timers/promises';
import { toHex as hex } from '@suture/shared/encoding';
import { readMemory, writeCode, type RemoteProcess } from './remote-process.ts';
import { resumeAll, suspendAll, type SuspendedThread } from './thread-suspension.ts';

/** One change: at `address`, `from` bytes become `to` bytes (same length). */
export interface CodeChange {
  address: bigint;
  from: Uint8Array;
  to: Uint8Array;
}

export type WindowOutcome =
  | { outcome: 'done' }
  | { outcome: 'refused'; reason: 'unexpected-bytes'; detail: string }
  | { outcome: 'busy'; detail: string }
  | { outcome: 'failed'; reason: string; detail: string };

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/**
 * Makes every change inside one suspension of the whole process: all threads are suspended
 * (re-scanning until the list is stable), none may stand inside a changed range or inside
 * `keepOut` (the detour block on unapply), every range must hold `from` right now, then all are
 * written and read back. A failure after the first write restores what was written. `inside`
 * runs last, still suspended (unapply frees the block there, when no thread can be in it). Every
 * thread is resumed on every path; busy backs off exponentially for a bounded number of tries.
 */
export async function changeInOneStop(opts: {
  proc: RemoteProcess;
  changes: CodeChange[];
  keepOut?: { start: bigint; end: bigint };
  check?: () => WindowOutcome | undefined;
  inside?: () => void;
  attempts: number;
  backoffMs: number;
}): Promise<WindowOutcome> {
  const { proc, changes } = opts;
  const ranges = changes.map((c) => ({ start: c.address, end: c.address + BigInt(c.from.length) }));
  if (opts.keepOut) ranges.push(opts.keepOut);
  let busy = '';
  for (let attempt = 0; attempt < opts.attempts; attempt++) {
    if (attempt > 0) await sleep(opts.backoffMs * 2 ** Math.min(attempt - 1, 6));
    const threads: SuspendedThread[] = [];
    try {
      if (!suspendAll(proc.pid, threads).settled) {
        busy = 'the thread list did not settle (threads keep being created)';
        continue;
      }
      const inside = threads.find((t) => ranges.some((r) => t.rip >= r.start && t.rip < r.end));
      if (inside) {
        busy = `thread ${inside.tid} is executing at 0x${inside.rip.toString(16)}, inside a region being changed`;
        continue;
      }
      const refused = opts.check?.();
      if (refused) return refused;
      for (const c of changes) {
        const now = readMemory(proc, c.address, c.from.length);
        if (!same(now, c.from))
          return { outcome: 'refused', reason: 'unexpected-bytes', detail: `0x${c.address.toString(16)} holds ${hex(now)}, expected ${hex(c.from)}; nothing was written` };
      }
      const written: CodeChange[] = [];
      try {
        for (const c of changes) {
          written.push(c); // before the write: a half-done write is restored too
          writeCode(proc, c.address, c.to);
        }
      } catch (err) {
        const unrestored = written.reverse().filter((c) => {
          try {
            writeCode(proc, c.address, c.from);
            return false;
          } catch {
            return true;
          }
        });
        const left = unrestored.length ? `; could NOT restore ${unrestored.map((c) => `0x${c.address.toString(16)}`).join(', ')}` : '; restored the original bytes';
        return { outcome: 'failed', reason: 'write-failed', detail: `${(err as Error).message}${left}` };
      }
      opts.inside?.();
      return { outcome: 'done' };
    } catch (err) {
      return { outcome: 'failed', reason: 'win32', detail: (err as Error).message };
    } finally {
      // ResumeThread only fails for a thread that has exited meanwhile: nothing is left held.
      resumeAll(threads);
    }
  }
  return { outcome: 'busy', detail: busy };
}
