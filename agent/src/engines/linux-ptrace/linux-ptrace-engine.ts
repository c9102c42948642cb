import { toHex as hex } from '@suture/shared/encoding';
import { BLOCK_HEADER_SIZE, readBlockHeader, type AppliedPatch, type ApplyRequest, type Engine, type EngineOutcome, type ResolvedPatchlet } from '../engine.ts';
import { blockCandidates, blockSize, layout, LayoutError, reachAddresses } from '../detour-layout.ts';
import { ptraceAvailable } from './ptrace.ts';
import { Refusal, withStoppedProcess, type Range, type StoppedProcess } from './stop-window.ts';

const SYS_MMAP = 9;
const SYS_MUNMAP = 11;
const PROT_READ = 1n;
const PROT_EXEC = 4n;
const MAP_PRIVATE = 0x02n;
const MAP_ANONYMOUS = 0x20n;
const MAP_FIXED_NOREPLACE = 0x100000n;
const USER_TOP = 0x7fff_ffff_f000n;
const MAX_CANDIDATES = 16;

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const at = (a: bigint) => `0x${a.toString(16)}`;

export interface LinuxPtraceOptions {
  /** stop-window attempts before `busy` (default 10) */
  attempts?: number;
  /** first back-off in ms, doubled per attempt (default 1) */
  backoffMs?: number;
}

function patchletRanges(patchlets: ResolvedPatchlet[]): Range[] {
  return patchlets.map((p) => ({ start: p.address, end: p.address + BigInt(p.expect.length) }));
}

function checkShape(patchlets: ResolvedPatchlet[]): string | undefined {
  const ranges = patchletRanges(patchlets).sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let i = 1; i < ranges.length; i++) if (ranges[i]!.start < ranges[i - 1]!.end) return `patchlets overlap at ${at(ranges[i]!.start)}`;
  for (const p of patchlets) {
    if (p.expect.length === 0) return 'a patchlet with no bytes';
    if (p.kind === 'in-place' && p.write.length !== p.expect.length) return `in-place patchlet at ${at(p.address)}: write and expect differ in length`;
  }
  return undefined;
}

/** Free address ranges of a process, from its mappings (all of user space outside them). */
function gaps(p: StoppedProcess): Range[] {
  const out: Range[] = [];
  let prev = 0n;
  for (const m of p.maps()) {
    if (m.start > prev) out.push({ start: prev, end: m.start });
    if (m.end > prev) prev = m.end;
  }
  if (prev < USER_TOP) out.push({ start: prev, end: USER_TOP });
  return out;
}

/** Maps an R+X block by an injected mmap at the first candidate the kernel grants exactly. */
function mapBlock(p: StoppedProcess, size: number, patchlets: ResolvedPatchlet[]): bigint {
  const candidates = blockCandidates({ gaps: gaps(p), size, reach: reachAddresses(patchlets) });
  if (candidates.length === 0) throw new Refusal('no-space', `no free ${size}-byte gap within +-2 GiB of the patched code`);
  for (const want of candidates.slice(0, MAX_CANDIDATES)) {
    const got = p.syscall(SYS_MMAP, [want, BigInt(size), PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1n, 0n]);
    if (got === want) return got;
    // A kernel without MAP_FIXED_NOREPLACE treats it as a hint: give back what it chose.
    if (got > 0n) p.syscall(SYS_MUNMAP, [got, BigInt(size)]);
  }
  throw new Refusal('no-space', `the kernel refused every candidate address for the detour code (${candidates.length} tried)`);
}

/** The linux-ptrace engine: ptrace through koffi, no compiled code of ours. */
export function createLinuxPtraceEngine(opts: LinuxPtraceOptions = {}): Engine {
  const windowOpts = { attempts: opts.attempts, backoffMs: opts.backoffMs };
  return {
    name: 'linux-ptrace',
    available: ptraceAvailable,

    async apply(req: ApplyRequest): Promise<EngineOutcome<'applied'>> {
      const bad = checkShape(req.patchlets);
      if (bad) return { outcome: 'failed', reason: 'bad-patch', detail: bad };
      const size = blockSize(req.patchlets);
      const { pid, startTime } = req.process;
      const r = await withStoppedProcess({ pid, startTime, avoid: patchletRanges(req.patchlets), ...windowOpts }, (p) => {
        for (const pl of req.patchlets) {
          const now = p.read(pl.address, pl.expect.length);
          if (!eq(now, pl.expect)) throw new Refusal('unexpected-bytes', `${at(pl.address)} holds ${hex(now)}, expected ${hex(pl.expect)}; nothing was written`);
        }
        const block = size > 0 ? mapBlock(p, size, req.patchlets) : 0n;
        const written: { address: bigint; from: Uint8Array }[] = [];
        try {
          const plan = layout({ patchId: req.patchId, block, size, patchlets: req.patchlets });
          if (size > 0) p.write(block, plan.block.subarray(0, usedLength(plan.block)));
          for (const w of plan.writes) {
            written.push(w); // before the write: a failed write may have changed some words
            p.write(w.address, w.to);
          }
          const applied: AppliedPatch = {
            engine: 'linux-ptrace',
            patchId: req.patchId,
            process: req.process,
            regions: plan.writes.map((w) => ({ address: w.address, original: w.from, written: w.to })),
            ...(size > 0 ? { block: { address: block, size } } : {}),
          };
          return applied;
        } catch (err) {
          const stuck: string[] = [];
          for (const w of written.reverse()) {
            try {
              p.write(w.address, w.from);
            } catch {
              stuck.push(at(w.address));
            }
          }
          // The block is released only when nothing can jump into it any more.
          if (size > 0 && stuck.length === 0) p.syscall(SYS_MUNMAP, [block, BigInt(size)]);
          if (stuck.length) throw new Error(`${(err as Error).message}; could NOT restore ${stuck.join(', ')}`);
          if (err instanceof LayoutError) throw new Refusal('no-space', err.message);
          throw new Error(`${(err as Error).message}; the original bytes were restored`);
        }
      });
      return r.outcome === 'ran' ? { outcome: 'applied', applied: r.value } : r;
    },

    async unapply(applied: AppliedPatch): Promise<EngineOutcome<'unapplied'>> {
      const { pid, startTime } = applied.process;
      const avoid: Range[] = applied.regions.map((g) => ({ start: g.address, end: g.address + BigInt(g.written.length) }));
      if (applied.block) avoid.push({ start: applied.block.address, end: applied.block.address + BigInt(applied.block.size) });
      const r = await withStoppedProcess({ pid, startTime, avoid, ...windowOpts }, (p) => {
        for (const g of applied.regions) {
          const now = p.read(g.address, g.written.length);
          if (!eq(now, g.written)) throw new Refusal('unexpected-bytes', `${at(g.address)} holds ${hex(now)}, not the patch's ${hex(g.written)}; nothing was restored`);
        }
        if (applied.block && readBlockHeader(p.read(applied.block.address, BLOCK_HEADER_SIZE)) !== applied.patchId)
          throw new Refusal('unexpected-bytes', `no detour block of patch ${applied.patchId} at ${at(applied.block.address)}; nothing was restored`);
        for (const g of applied.regions) p.write(g.address, g.original);
        // No thread is inside the block (checked by the window) and nothing jumps to it any more.
        if (applied.block) p.syscall(SYS_MUNMAP, [applied.block.address, BigInt(applied.block.size)]);
        return applied;
      });
      return r.outcome === 'ran' ? { outcome: 'unapplied', applied: r.value } : r;
    },
  };
}

/** Anonymous memory starts zeroed: only the bytes up to the last non-zero one need writing. */
function usedLength(block: Uint8Array): number {
  let n = block.length;
  while (n > 0 && block[n - 1] === 0) n--;
  return n;
}
