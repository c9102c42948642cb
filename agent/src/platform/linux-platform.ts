import { join } from 'node:path';
import { createIsolatedEngine } from '../engines/isolated-engine.ts';
import { createLinuxPtraceEngine } from '../engines/linux-ptrace/linux-ptrace-engine.ts';
import { createLinuxInventory } from '../inventory/linux-inventory.ts';
import { FATAL_SIGNALS, watchExits } from '../patching/exit-watch.ts';
import { createLinuxProcessAccess } from '../patching/process-access.ts';
import type { AgentPlatform } from './agent-platform.ts';

/** Linux: ptrace in an isolated worker, /proc inventory, crashes from the kernel's proc connector. */
export function createLinuxPlatform(): AgentPlatform {
  return {
    name: 'linux',
    engine: ({ stateDir }) => createIsolatedEngine({ name: 'linux-ptrace', local: createLinuxPtraceEngine(), pidFile: join(stateDir, 'engine-worker.pid') }),
    inventory: createLinuxInventory(),
    processes: createLinuxProcessAccess(),
    watchCrashes({ recent, onCrash }) {
      const exits = watchExits((e) => {
        if (!FATAL_SIGNALS.has(e.signal)) return;
        // Read now: a scan may forget the exited process before the report is handled.
        const mine = recent().filter((r) => r.pid === e.pid);
        if (mine.length) onCrash({ pid: e.pid, startTime: mine[0]!.startTime, signal: e.signal, patchIds: mine.map((r) => r.patchId) });
      });
      // Exits arrive as the kernel sends them: nothing to poll.
      return { poll: () => undefined, stop: () => exits.stop() };
    },
  };
}
