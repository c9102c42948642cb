/**
 * The `frida` engine: the same contract over the optional `frida` package, for platforms where
 * it can be installed (its install downloads prebuilt binaries from GitHub, so not on every
 * build machine). The work happens inside the target through a small GumJS script: thread
 * program counters are checked against the regions, `expect` is verified, detour code goes into
 * memory Frida allocates near the module and is then made R+X, and all patchlets are written by
 * one synchronous script call.
 */
import { createRequire } from 'node:module';
import { layout, blockSize, LayoutError } from '../detour-layout.ts';
import type { AppliedPatch, ApplyRequest, Engine, EngineOutcome } from '../engine.ts';

const require = createRequire(import.meta.url);
type Frida = { attach(pid: number): Promise<{ createScript(src: string): Promise<{ load(): Promise<void>; exports: Record<string, (...a: unknown[]) => Promise<unknown>> }>; detach(): Promise<void> }> };

function loadFrida(): Frida | string {
  try {
    return require('frida') as Frida;
  } catch (err) {
    return `the optional frida package is not installed here (${(err as Error).message.split('\n')[0]})`;
  }
}

/** Runs in the target. Returns 'ok', or a refusal string "reason: detail". */
const SCRIPT = `
const hex = (a) => Array.from(new Uint8Array(a), (b) => b.toString(16).padStart(2, '0')).join('');
const bytes = (h) => h.match(/../g).map((x) => parseInt(x, 16));
function inside(ranges) {
  for (const t of Process.enumerateThreads()) {
    const pc = t.context.pc;
    for (const r of ranges) if (pc.compare(ptr(r.start)) >= 0 && pc.compare(ptr(r.end)) < 0) return 'thread ' + t.id + ' at ' + pc;
  }
  return null;
}
rpc.exports = {
  alloc(size, near) { const m = Memory.alloc(size, { near: ptr(near), maxDistance: 0x7fff0000 }); return m.toString(); },
  change(writes, ranges, block) {
    const busy = inside(ranges);
    if (busy) return 'busy: ' + busy;
    for (const w of writes) { const now = hex(ptr(w.address).readByteArray(w.from.length / 2)); if (now !== w.from) return 'unexpected-bytes: ' + w.address + ' holds ' + now; }
    if (block) { Memory.protect(ptr(block.address), block.size, 'rw-'); ptr(block.address).writeByteArray(bytes(block.bytes)); Memory.protect(ptr(block.address), block.size, 'r-x'); }
    for (const w of writes) Memory.patchCode(ptr(w.address), w.to.length / 2, (code) => code.writeByteArray(bytes(w.to)));
    return 'ok';
  },
};`;

const h = (b: Uint8Array) => Buffer.from(b).toString('hex');
const addr = (a: bigint) => `0x${a.toString(16)}`;

export function createFridaEngine(): Engine {
  type Rpc = Record<string, (...a: unknown[]) => Promise<unknown>>;
  // One session per process while anything is applied: Frida frees the memory it allocated for
  // detour code when its script unloads, so the script must stay loaded until the last unapply.
  const sessions = new Map<number, { rpc: Rpc; detach(): Promise<void>; applied: number }>();
  async function inTarget<T>(pid: number, delta: number, fn: (rpc: Rpc) => Promise<T>): Promise<T> {
    let s = sessions.get(pid);
    if (!s) {
      const session = await (loadFrida() as Frida).attach(pid);
      const script = await session.createScript(SCRIPT);
      await script.load();
      s = { rpc: script.exports, detach: () => session.detach(), applied: 0 };
      sessions.set(pid, s);
    }
    try {
      const out = await fn(s.rpc);
      if ((out as { outcome?: string }).outcome === (delta > 0 ? 'applied' : 'unapplied')) s.applied += delta;
      return out;
    } finally {
      if (s.applied <= 0) {
        sessions.delete(pid);
        await s.detach().catch(() => {});
      }
    }
  }
  function outcome<T extends 'applied' | 'unapplied'>(kind: T, result: string, applied: AppliedPatch): EngineOutcome<T> {
    if (result === 'ok') return { outcome: kind, applied } as EngineOutcome<T>;
    const [reason, ...rest] = result.split(': ');
    if (reason === 'busy') return { outcome: 'busy', detail: rest.join(': ') };
    return { outcome: 'refused', reason: 'unexpected-bytes', detail: rest.join(': ') };
  }
  return {
    name: 'frida',
    available() {
      const f = loadFrida();
      return typeof f === 'string' ? { ok: false, why: f } : { ok: true };
    },
    async apply(req: ApplyRequest) {
      try {
        return await inTarget(req.process.pid, 1, async (rpc) => {
          const size = blockSize(req.patchlets);
          const block = size > 0 ? BigInt(String(await rpc.alloc!(size, addr(req.module.base)))) : 0n;
          const plan = layout({ patchId: req.patchId, block, size, patchlets: req.patchlets });
          const writes = plan.writes.map((w) => ({ address: addr(w.address), from: h(w.from), to: h(w.to) }));
          const ranges = plan.writes.map((w) => ({ start: addr(w.address), end: addr(w.address + BigInt(w.from.length)) }));
          const result = String(await rpc.change!(writes, ranges, size > 0 ? { address: addr(block), size, bytes: h(plan.block) } : null));
          const applied: AppliedPatch = { engine: 'frida', patchId: req.patchId, process: req.process, regions: plan.writes.map((w) => ({ address: w.address, original: w.from, written: w.to })), ...(size > 0 ? { block: { address: block, size } } : {}) };
          return outcome('applied', result, applied);
        });
      } catch (err) {
        if (err instanceof LayoutError) return { outcome: 'refused', reason: 'no-space', detail: err.message };
        return { outcome: 'failed', reason: 'frida', detail: (err as Error).message };
      }
    },
    async unapply(applied: AppliedPatch) {
      try {
        return await inTarget(applied.process.pid, -1, async (rpc) => {
          const writes = applied.regions.map((g) => ({ address: addr(g.address), from: h(g.written), to: h(g.original) }));
          const ranges = applied.regions.map((g) => ({ start: addr(g.address), end: addr(g.address + BigInt(g.written.length)) }));
          if (applied.block) ranges.push({ start: addr(applied.block.address), end: addr(applied.block.address + BigInt(applied.block.size)) });
          // Frida owns the block's memory; it is released when the script unloads after the last unapply.
          return outcome('unapplied', String(await rpc.change!(writes, ranges, null)), applied);
        });
      } catch (err) {
        return { outcome: 'failed', reason: 'frida', detail: (err as Error).message };
      }
    },
  };
}
