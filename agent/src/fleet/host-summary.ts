import type { InventoryModule, PatchStatusEntry } from '@suture/shared/protocol';
import type { PatchDocument } from '@suture/shared/schemas';
import type { ProcessModules } from '../inventory/linux-inventory.ts';
import type { AgentState } from '../patching/state-store.ts';

/** What the server is told about this host after a scan: the modules loaded, and where each enabled patch stands. */
export interface HostSummary {
  modules: Map<string, { name: string; processes: number }>;
  patches: PatchStatusEntry[];
}

const baseName = (path: string) => (path.split(/[\\/]/).pop() || path).slice(0, 255);

/**
 * Summarises one scan: per module hash the number of processes that map it (each process
 * counted once), and per enabled patch how many of the processes that load its module have it
 * applied, refused it for good, or were busy/failed on the last try. Only processes of the scan
 * that load the module count (pid and start time both match).
 */
export function summarizeHost(opts: { processes: ProcessModules[]; patches: PatchDocument[]; state: AgentState; selfPid: number }): HostSummary {
  const modules = new Map<string, { name: string; processes: number }>();
  for (const p of opts.processes) {
    for (const sha of new Set(p.modules.map((m) => m.sha256))) {
      const m = modules.get(sha) ?? { name: baseName(p.modules.find((x) => x.sha256 === sha)!.path), processes: 0 };
      m.processes++;
      modules.set(sha, m);
    }
  }
  const patches = opts.patches.map((doc): PatchStatusEntry => {
    const live = new Set(opts.processes.filter((p) => p.pid !== opts.selfPid && p.modules.some((m) => m.sha256 === doc.module.sha256)).map((p) => `${p.pid}/${p.startTime}`));
    const matching = live.size;
    const applied = new Set(opts.state.applied.filter((r) => r.patchId === doc.id && live.has(`${r.pid}/${r.startTime}`)).map((r) => `${r.pid}/${r.startTime}`));
    // The last outcome per process decides; an applied process is counted as applied only.
    const last = new Map<string, 'refused' | 'busy' | 'failed'>();
    for (const r of opts.state.refused) {
      const k = `${r.pid}/${r.startTime}`;
      if (r.patchId === doc.id && live.has(k) && !applied.has(k)) last.set(k, r.outcome);
    }
    const refused = [...last.values()].filter((o) => o === 'refused').length;
    const stopped = opts.state.stopped[doc.id];
    return { patchId: doc.id, matching, applied: applied.size, refused, failed: last.size - refused, ...(stopped ? { stopped: stopped.slice(0, 500) } : {}) };
  });
  return { modules, patches };
}

/** The inventory delta from `sent` (what the server has) to `now`: changed or new modules, and gone ones with 0 processes. */
export function inventoryDelta(sent: Map<string, { name: string; processes: number }>, now: Map<string, { name: string; processes: number }>): InventoryModule[] {
  const out: InventoryModule[] = [];
  for (const [sha256, m] of now) {
    const before = sent.get(sha256);
    if (!before || before.processes !== m.processes || before.name !== m.name) out.push({ sha256, ...m });
  }
  for (const [sha256, m] of sent) if (!now.has(sha256)) out.push({ sha256, name: m.name, processes: 0 });
  return out;
}
