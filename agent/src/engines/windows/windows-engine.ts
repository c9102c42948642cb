/**
 * The Windows engine: kernel32 through koffi (OpenProcess, SuspendThread/GetThreadContext,
 * Read/WriteProcessMemory, VirtualAllocEx/ProtectEx/FreeEx). Detour blocks are laid out by
 * detour-layout.ts exactly as on Linux. Also runs under Wine (its tests do), where the same
 * calls are implemented by wineserver.
 */
import { BLOCK_HEADER_SIZE, readBlockHeader, type AppliedPatch, type ApplyRequest, type Engine, type EngineOutcome, type ResolvedPatchlet } from '../engine.ts';
import { blockCandidates, blockSize, layout, LayoutError, reachAddresses } from '../detour-layout.ts';
import { kernel32Available } from './kernel32.ts';
import { allocateAt, freeMemory, freeRegions, openForPatching, OpenRefusal, readMemory, writeBlock, type RemoteProcess } from './remote-process.ts';
import { changeInOneStop, type CodeChange, type WindowOutcome } from './stop-window.ts';

/** VirtualAllocEx reserves at 64 KiB boundaries: a candidate that is not one would be rounded down onto its neighbour. */
const GRANULARITY = 0x10000n;
const REACH = 2n ** 31n - 64n; // detour-layout's rel32 reach, with its margin
const LOWEST = 0x10000n;
const HIGHEST = 0x7fff_ffff_0000n; // top of the x64 user address space
const MAX_PLACEMENT_TRIES = 32;

const hex = (a: bigint) => `0x${a.toString(16)}`;
const failed = (reason: string, detail: string) => ({ outcome: 'failed' as const, reason, detail });

function checkPatchlets(patchlets: ResolvedPatchlet[]): string | undefined {
  if (patchlets.length === 0) return 'a patch needs at least one patchlet';
  for (const p of patchlets) {
    if (p.expect.length === 0) return `empty expect at ${hex(p.address)}`;
    if (p.kind === 'in-place' && p.write.length !== p.expect.length) return `write and expect differ in length at ${hex(p.address)}`;
  }
  const spans = patchlets.map((p) => [p.address, p.address + BigInt(p.expect.length)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) return `patchlets overlap at ${hex(spans[i]![0])}`;
  return undefined;
}

/** Whether a block at [at, at+size) reaches every address in `reach` with rel32 in both directions. */
function inReach(at: bigint, size: bigint, reach: bigint[]): boolean {
  return reach.every((r) => r - at < REACH && at + size - r < REACH);
}

/**
 * Allocates the detour block at a free, 64 KiB-aligned address within rel32 reach of every
 * jump into it and every relocation out of it, writes it (header and relocated code) while it is
 * read-write, then makes it execute-read. Undefined when no address works.
 */
function placeBlock(proc: RemoteProcess, req: ApplyRequest, size: number): { address: bigint; changes: CodeChange[] } | undefined {
  const reach = reachAddresses(req.patchlets);
  const lo = reach.reduce((a, b) => (a < b ? a : b));
  const hi = reach.reduce((a, b) => (a > b ? a : b));
  const from = hi - REACH > LOWEST ? hi - REACH : LOWEST;
  const to = lo + REACH < HIGHEST ? lo + REACH : HIGHEST;
  const gaps = freeRegions(proc, from, to)
    .map((g) => ({ start: (g.start + GRANULARITY - 1n) & ~(GRANULARITY - 1n), end: g.end }))
    .filter((g) => g.end - g.start >= BigInt(size));
  const big = BigInt(size);
  let tries = 0;
  for (const c of blockCandidates({ gaps, size, reach, minAddress: LOWEST })) {
    const gap = gaps.find((g) => c >= g.start && c < g.end)!;
    // Round to the allocation granularity, down if that stays in the gap, else up.
    let at = c & ~(GRANULARITY - 1n);
    if (at < gap.start) at += GRANULARITY;
    if (at + big > gap.end || !inReach(at, big, reach)) continue;
    if (++tries > MAX_PLACEMENT_TRIES) break;
    if (!allocateAt(proc, at, size)) continue; // taken since we looked
    try {
      const l = layout({ patchId: req.patchId, block: at, size, patchlets: req.patchlets });
      writeBlock(proc, at, l.block);
      return { address: at, changes: l.writes.map((w) => ({ address: w.address, from: w.from, to: w.to })) };
    } catch (err) {
      freeMemory(proc, at);
      throw err;
    }
  }
  return undefined;
}

function open(pid: number, startTime: bigint): RemoteProcess | { outcome: 'refused'; reason: OpenRefusal['reason']; detail: string } {
  if (pid === process.pid) return { outcome: 'refused', reason: 'unsafe', detail: 'the agent does not suspend itself' };
  try {
    return openForPatching(pid, startTime);
  } catch (err) {
    if (err instanceof OpenRefusal) return { outcome: 'refused', reason: err.reason, detail: err.message };
    return { outcome: 'refused', reason: 'gone', detail: (err as Error).message };
  }
}

function windowToEngine<T extends 'applied' | 'unapplied'>(w: Exclude<WindowOutcome, { outcome: 'done' }>): EngineOutcome<T> {
  return w;
}

export function createWindowsEngine(opts: { attempts?: number; backoffMs?: number } = {}): Engine {
  const attempts = opts.attempts ?? 8;
  const backoffMs = opts.backoffMs ?? 5;

  return {
    name: 'windows',
    available: kernel32Available,

    async apply(req) {
      const bad = checkPatchlets(req.patchlets);
      if (bad) return failed('bad-patchlet', bad);
      const proc = open(req.process.pid, req.process.startTime);
      if ('outcome' in proc) return proc;
      let block: { address: bigint; size: number } | undefined;
      try {
        const size = blockSize(req.patchlets);
        let changes: CodeChange[];
        if (size > 0) {
          const placed = placeBlock(proc, req, size);
          if (!placed) return { outcome: 'refused', reason: 'no-space', detail: `no free 64 KiB-aligned gap within +-2 GiB of ${hex(req.module.base)}` };
          block = { address: placed.address, size };
          changes = placed.changes;
        } else {
          changes = layout({ patchId: req.patchId, block: 0n, size: 0, patchlets: req.patchlets }).writes;
        }
        const w = await changeInOneStop({ proc, changes, attempts, backoffMs });
        if (w.outcome !== 'done') return windowToEngine<'applied'>(w);
        const applied: AppliedPatch = {
          engine: 'windows',
          patchId: req.patchId,
          process: req.process,
          regions: changes.map((c) => ({ address: c.address, original: c.from, written: c.to })),
          ...(block ? { block } : {}),
        };
        block = undefined; // it is in use now: unapply frees it
        return { outcome: 'applied', applied };
      } catch (err) {
        return failed(err instanceof LayoutError ? 'layout' : 'win32', (err as Error).message);
      } finally {
        // Not applied: no jump into the block was left behind, so it can go.
        if (block) {
          try {
            freeMemory(proc, block.address);
          } catch {
            /* the process exited */
          }
        }
        proc.close();
      }
    },

    async unapply(applied) {
      if (applied.engine !== 'windows') return failed('wrong-engine', `applied by ${applied.engine}`);
      const proc = open(applied.process.pid, applied.process.startTime);
      if ('outcome' in proc) return proc;
      try {
        const block = applied.block;
        const changes = applied.regions.map((r) => ({ address: r.address, from: r.written, to: r.original }));
        const w = await changeInOneStop({
          proc,
          changes,
          attempts,
          backoffMs,
          keepOut: block && { start: block.address, end: block.address + BigInt(block.size) },
          // The block must still be ours: freeing someone else's memory would break the process.
          check: () => {
            if (!block) return undefined;
            let id: string | undefined;
            try {
              id = readBlockHeader(readMemory(proc, block.address, BLOCK_HEADER_SIZE));
            } catch {
              id = undefined; // no longer mapped (unapplied already, or released by someone else)
            }
            return id === applied.patchId ? undefined : { outcome: 'refused', reason: 'unexpected-bytes', detail: `${hex(block.address)} is not the detour block of ${applied.patchId}; nothing was written` };
          },
          // Still suspended, and no thread is inside the block (keepOut): nothing can be running
          // there. The original bytes are back by now, so a failed free only leaks the block
          // (recognisable by its header), it does not make the unapply fail.
          inside: () => {
            try {
              if (block) freeMemory(proc, block.address);
            } catch {
              /* leaked, see above */
            }
          },
        });
        if (w.outcome !== 'done') return windowToEngine<'unapplied'>(w);
        return { outcome: 'unapplied', applied };
      } catch (err) {
        return failed('win32', (err as Error).message);
      } finally {
        proc.close();
      }
    },
  };
}
