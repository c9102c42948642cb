import { toHex as hex } from '@suture/shared/encoding';
import type { PatchDocument } from '@suture/shared/schemas';
import type { Engine } from '../engines/engine.ts';
import { blockSize, layout } from '../engines/detour-layout.ts';
import type { LoadedModule, ProcessModules } from '../inventory/linux-inventory.ts';
import type { ProcessAccess } from './process-access.ts';
import { applyRequest } from './resolve.ts';
import { fromRecord, toRecord, type AppliedRecord, type StateStore } from './state-store.ts';

/** One outcome, as the agent reports it (and the server will store it). */
export interface PatchEvent {
  type: 'applied' | 'unapplied' | 'refused' | 'busy' | 'failed' | 'adopted' | 'crash';
  patchId: string;
  pid: number;
  reason?: string;
  detail?: string;
}

/** First wait before a busy, traced or failed apply is tried again; it doubles up to the cap. */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 60_000;

/** Linux or Windows inventory: the Windows one reports the same shapes (with PE modules only). */
export interface Inventory {
  scan(): Promise<{ processes: ProcessModules[] }>;
  scanProcess(pid: number): Promise<ProcessModules | undefined>;
}


/**
 * Keeps the enabled patches applied to every process that loads their module, and takes them
 * out on request. Every engine call is preceded by an intent on disk and followed by the record
 * of what happened, so a restarted agent (`adopt`) knows what is in memory and never applies
 * twice.
 */
export function createPatchManager(opts: { engine: Engine; inventory: Inventory; processes: ProcessAccess; state: StateStore; onEvent?: (e: PatchEvent) => void }) {
  const { engine, state, processes } = opts;
  const emit = (e: PatchEvent) => opts.onEvent?.(e);
  let patches = new Map<string, PatchDocument>();
  const key = (patchId: string, pid: number, startTime: bigint | string) => `${patchId}/${pid}/${startTime}`;
  const appliedKeys = () => new Set(state.get().applied.map((r) => key(r.patchId, r.pid, r.startTime)));
  // Outcomes that can change by themselves (a thread inside the region, a tracer that lets go,
  // a transient failure) are tried again on a back-off per patch and process; other refusals
  // (unexpected bytes, unsafe, no space, access denied) hold for the life of the process.
  const retry = new Map<string, { attempts: number; nextAt: number }>();
  const transient = (out: Awaited<ReturnType<Engine['apply']>>) => out.outcome === 'busy' || out.outcome === 'failed' || (out.outcome === 'refused' && out.reason === 'already-traced');
  const backOff = (k: string) => {
    const attempts = (retry.get(k)?.attempts ?? 0) + 1;
    retry.set(k, { attempts, nextAt: Date.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (attempts - 1)) });
  };

  /** What memory says about `doc` in a module of a process: applied (with record), original, or neither. */
  function inspect(doc: PatchDocument, proc: ProcessModules, module: LoadedModule): { state: 'applied'; record: AppliedRecord } | { state: 'original' | 'mixed' } {
    const req = applyRequest({ doc, process: { pid: proc.pid, startTime: proc.startTime }, module });
    const size = blockSize(req.patchlets);
    const block = size > 0 ? processes.findBlock(proc.pid, doc.id) : undefined;
    const plan = layout({ patchId: doc.id, block: block?.address ?? 0n, size: block?.size ?? size, patchlets: req.patchlets });
    const now = plan.writes.map((w) => hex(processes.read(proc.pid, w.address, w.to.length) ?? new Uint8Array()));
    if (now.every((b, i) => b === hex(plan.writes[i]!.from))) return { state: 'original' };
    if ((size === 0 || block) && now.every((b, i) => b === hex(plan.writes[i]!.to))) {
      const applied = { engine: engine.name, patchId: doc.id, process: req.process, regions: plan.writes.map((w) => ({ address: w.address, original: w.from, written: w.to })), ...(block ? { block } : {}) };
      return { state: 'applied', record: toRecord(applied, { release: doc.release, moduleSha256: module.sha256 }) };
    }
    return { state: 'mixed' };
  }

  /**
   * Applies `doc` in each of `work`: one state write for all the intents before the first engine
   * call, one for all the outcomes after (an agent killed in between leaves intents that the
   * next start settles from memory).
   */
  async function applyAll(work: { doc: PatchDocument; proc: ProcessModules; module: LoadedModule }[]): Promise<void> {
    if (work.length === 0) return;
    const at = new Date().toISOString();
    const intents = work.map(({ doc, proc }) => ({ op: 'apply' as const, patchId: doc.id, pid: proc.pid, startTime: proc.startTime.toString(), at }));
    state.update((s) => s.intents.push(...intents));
    const done: { i: (typeof intents)[number]; doc: PatchDocument; module: LoadedModule; out: Awaited<ReturnType<Engine['apply']>> }[] = [];
    try {
      for (const [n, { doc, proc, module }] of work.entries()) {
        const out = await engine.apply(applyRequest({ doc, process: { pid: proc.pid, startTime: proc.startTime }, module }));
        done.push({ i: intents[n]!, doc, module, out });
      }
    } finally {
      for (const { i, out } of done) {
        const k = key(i.patchId, i.pid, i.startTime);
        if (transient(out)) backOff(k);
        else retry.delete(k);
      }
      state.update((s) => {
        for (const { i, doc, module, out } of done) {
          s.intents = s.intents.filter((x) => !state.same(x, i));
          if (out.outcome === 'applied') s.applied.push(toRecord(out.applied, { release: doc.release, moduleSha256: module.sha256 }));
          else s.refused.push({ ...i, outcome: out.outcome, reason: out.outcome === 'busy' ? 'busy' : out.reason, detail: out.detail });
        }
      });
      for (const { i, out } of done)
        emit(out.outcome === 'applied' ? { type: 'applied', patchId: i.patchId, pid: i.pid } : { type: out.outcome, patchId: i.patchId, pid: i.pid, reason: out.outcome === 'busy' ? undefined : out.reason, detail: out.detail });
    }
  }

  return {
    setPatches(docs: PatchDocument[]) {
      patches = new Map(docs.map((d) => [d.id, d]));
    },

    /** The enabled patches, as last set. */
    patches: (): PatchDocument[] => [...patches.values()],

    /**
     * After a restart: drop records of processes that are gone, and settle every intent the
     * previous run left open by reading memory (applied -> adopted, original -> nothing to do).
     */
    async adopt(): Promise<void> {
      const alive = new Map<number, ProcessModules | undefined>();
      const proc = async (pid: number) => (alive.has(pid) ? alive.get(pid) : alive.set(pid, await opts.inventory.scanProcess(pid)).get(pid));
      const s = state.get();
      const kept: AppliedRecord[] = [];
      for (const r of s.applied) {
        const p = await proc(r.pid);
        if (p && p.startTime.toString() === r.startTime) kept.push(r);
      }
      const adopted: AppliedRecord[] = [];
      for (const i of s.intents) {
        const p = await proc(i.pid);
        const doc = patches.get(i.patchId);
        if (!p || p.startTime.toString() !== i.startTime || !doc) continue;
        const module = p.modules.find((m) => m.sha256 === doc.module.sha256);
        if (!module) continue;
        const seen = inspect(doc, p, module);
        const known = kept.some((r) => state.same(r, i));
        if (seen.state === 'applied' && !known) adopted.push(seen.record);
        if (seen.state === 'original' && known) kept.splice(kept.findIndex((r) => state.same(r, i)), 1);
      }
      state.update((st) => {
        st.applied = [...kept, ...adopted];
        st.intents = [];
      });
      for (const r of adopted) emit({ type: 'adopted', patchId: r.patchId, pid: r.pid });
    },

    /** Applies every enabled patch to every process that has its module and does not have it yet. */
    async enforce(processes?: ProcessModules[]): Promise<void> {
      const procs = processes ?? (await opts.inventory.scan()).processes;
      const have = appliedKeys();
      const tried = new Set(state.get().refused.filter((r) => r.outcome === 'refused' && r.reason !== 'already-traced').map((r) => key(r.patchId, r.pid, r.startTime)));
      const now = Date.now();
      const work: Parameters<typeof applyAll>[0] = [];
      const seen = new Set<string>();
      for (const p of procs) {
        if (p.pid === process.pid) continue;
        for (const m of p.modules) {
          for (const doc of patches.values()) {
            if (doc.module.sha256 !== m.sha256 || state.get().stopped[doc.id]) continue;
            const k = key(doc.id, p.pid, p.startTime);
            seen.add(k);
            if (have.has(k) || tried.has(k)) continue; // applied, or refused for good in this process
            if ((retry.get(k)?.nextAt ?? 0) > now) continue; // busy, traced or failed: not yet time to try again
            work.push({ doc, proc: p, module: m });
          }
        }
      }
      for (const k of retry.keys()) if (!seen.has(k)) retry.delete(k); // the process (or the patch) is gone
      await applyAll(work);
    },

    /** Takes `patchId` out of every process it is in. */
    async unapply(patchId: string): Promise<PatchEvent[]> {
      const events: PatchEvent[] = [];
      for (const r of state.get().applied.filter((x) => x.patchId === patchId)) {
        const out = await engine.unapply(fromRecord(r));
        const gone = out.outcome === 'refused' && out.reason === 'gone';
        if (out.outcome === 'unapplied' || gone) state.update((s) => (s.applied = s.applied.filter((x) => !state.same(x, r))));
        const e: PatchEvent = out.outcome === 'unapplied' ? { type: 'unapplied', patchId, pid: r.pid } : { type: out.outcome, patchId, pid: r.pid, reason: out.outcome === 'busy' ? undefined : out.reason, detail: out.detail };
        events.push(e);
        emit(e);
      }
      return events;
    },

    /**
     * Records a crash of a process that had `patchIds` applied (as known when it died) and stops
     * applying those patches on this host. Linux names the fatal signal, Windows the exception
     * (NTSTATUS) the process died of.
     */
    crashed(c: { pid: number; startTime: string; signal?: number; exception?: number; patchIds: string[] }): void {
      // One crash is recorded once, however many watchers or polls saw it.
      const patchIds = c.patchIds.filter((id) => !state.get().crashes.some((x) => x.pid === c.pid && x.patchId === id && x.startTime === c.startTime));
      if (patchIds.length === 0) return;
      c = { ...c, patchIds };
      const exception = c.exception === undefined ? undefined : `0x${c.exception.toString(16).padStart(8, '0')}`;
      const cause = exception ? `exception ${exception}` : `signal ${c.signal}`;
      state.update((s) => {
        for (const patchId of c.patchIds) {
          s.crashes.push({ patchId, pid: c.pid, startTime: c.startTime, ...(exception ? { exception } : { signal: c.signal }), at: new Date().toISOString() });
          s.stopped[patchId] = `process ${c.pid} died of ${cause} soon after the patch was applied`;
        }
        s.applied = s.applied.filter((r) => !(r.pid === c.pid && r.startTime === c.startTime));
      });
      for (const patchId of c.patchIds) emit({ type: 'crash', patchId, pid: c.pid, reason: cause });
    },

    /** Drops records of processes that have exited (normally). */
    async forgetExited(): Promise<void> {
      const gone: AppliedRecord[] = [];
      for (const r of state.get().applied) {
        if ((await processes.startTime(r.pid))?.toString() !== r.startTime) gone.push(r);
      }
      if (gone.length) state.update((s) => (s.applied = s.applied.filter((r) => !gone.includes(r))));
    },
  };
}
export type PatchManager = ReturnType<typeof createPatchManager>;
