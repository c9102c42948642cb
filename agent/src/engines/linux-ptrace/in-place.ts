import { open, readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { detach, instructionPointer, pokeWord, PtraceError, seizeAndStop } from './ptrace.ts';

/** One change: at `address`, `from` bytes become `to` bytes (same length). */
export interface Region {
  address: bigint;
  from: Uint8Array;
  to: Uint8Array;
}

export type Outcome =
  | { outcome: 'done' }
  | { outcome: 'refused'; reason: 'already-traced' | 'unexpected-bytes' | 'gone'; detail: string }
  | { outcome: 'busy'; detail: string }
  | { outcome: 'failed'; reason: string; detail: string };

const MAX_STABLE_SCANS = 50;

async function tracerPid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^TracerPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

async function tids(pid: number): Promise<number[]> {
  return (await readdir(`/proc/${pid}/task`)).map(Number);
}

async function readMem(pid: number, address: bigint, length: number): Promise<Uint8Array> {
  const fh = await open(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, Number(address));
    if (bytesRead !== length) throw new Error(`short read at 0x${address.toString(16)}`);
    return new Uint8Array(buf);
  } finally {
    await fh.close();
  }
}

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Writes `bytes` at `address` with POKEDATA, word by word, preserving the bytes around them. */
async function writeBytes(pid: number, address: bigint, bytes: Uint8Array): Promise<void> {
  const start = address & ~7n;
  const end = (address + BigInt(bytes.length) + 7n) & ~7n;
  const words = Buffer.from(await readMem(pid, start, Number(end - start)));
  Buffer.from(bytes).copy(words, Number(address - start));
  for (let off = 0n; start + off < end; off += 8n) pokeWord(pid, start + off, words.readBigUInt64LE(Number(off)));
}

/**
 * Applies every region in one stop window: all threads are seized and stopped (the thread list
 * is re-read until no new thread appears), no thread may be executing inside a region, every
 * region must hold `from` exactly, then all are written and read back. Any failure after the
 * first write restores what was written. Every thread is detached on every path.
 */
export async function changeRegions(opts: { pid: number; regions: Region[]; attempts?: number; backoffMs?: number }): Promise<Outcome> {
  const { pid, regions } = opts;
  const attempts = opts.attempts ?? 10;
  for (const r of regions) if (r.from.length !== r.to.length || r.from.length === 0) return { outcome: 'failed', reason: 'bad-region', detail: 'from and to must be the same non-zero length' };
  let busyDetail = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep((opts.backoffMs ?? 2) * 2 ** Math.min(attempt, 6));
    let tracer: number;
    try {
      tracer = await tracerPid(pid);
    } catch {
      return { outcome: 'refused', reason: 'gone', detail: `process ${pid} does not exist` };
    }
    if (tracer !== 0) return { outcome: 'refused', reason: 'already-traced', detail: `process ${pid} is traced by ${tracer}` };

    const stopped: number[] = [];
    try {
      for (let scan = 0, grew = true; grew; scan++) {
        if (scan > MAX_STABLE_SCANS) return { outcome: 'busy', detail: 'the thread list did not settle' };
        grew = false;
        for (const tid of await tids(pid)) {
          if (stopped.includes(tid)) continue;
          try {
            seizeAndStop(tid);
            stopped.push(tid);
            grew = true;
          } catch (err) {
            if (err instanceof PtraceError && err.gone) continue; // the thread exited meanwhile
            throw err;
          }
        }
      }
      const inside = stopped.map((tid) => ({ tid, ip: instructionPointer(tid) })).find(({ ip }) => regions.some((r) => ip >= r.address && ip < r.address + BigInt(r.from.length)));
      if (inside) {
        busyDetail = `thread ${inside.tid} is executing at 0x${inside.ip.toString(16)}, inside a region being changed`;
        continue; // detached in finally, then back off
      }
      for (const r of regions) {
        const now = await readMem(pid, r.address, r.from.length);
        if (!eq(now, r.from))
          return { outcome: 'refused', reason: 'unexpected-bytes', detail: `0x${r.address.toString(16)} holds ${hex(now)}, expected ${hex(r.from)}; nothing was written` };
      }
      const written: Region[] = [];
      try {
        for (const r of regions) {
          await writeBytes(pid, r.address, r.to);
          written.push(r);
          const back = await readMem(pid, r.address, r.to.length);
          if (!eq(back, r.to)) throw new Error(`read back ${hex(back)} at 0x${r.address.toString(16)}, wrote ${hex(r.to)}`);
        }
      } catch (err) {
        for (const r of written.reverse()) await writeBytes(pid, r.address, r.from).catch(() => {});
        return { outcome: 'failed', reason: 'write-failed', detail: `${(err as Error).message}; restored the original bytes` };
      }
      return { outcome: 'done' };
    } catch (err) {
      if (err instanceof PtraceError && err.gone) return { outcome: 'refused', reason: 'gone', detail: `process ${pid} exited during the change` };
      return { outcome: 'failed', reason: 'ptrace', detail: (err as Error).message };
    } finally {
      for (const tid of stopped) {
        try {
          detach(tid);
        } catch {
          /* a thread that exited is already detached */
        }
      }
    }
  }
  return { outcome: 'busy', detail: busyDetail };
}
