import { join } from 'node:path';
import { createIsolatedEngine } from '../engines/isolated-engine.ts';
import { createWindowsEngine } from '../engines/windows/windows-engine.ts';
import { createWindowsInventory } from '../inventory/windows-inventory.ts';
import { createWindowsProcessAccess, windowsStartTime } from '../patching/windows-process-access.ts';
import { isCrashExitCode, watchWindowsExits, type WatchedProcess } from '../patching/windows-exit-watch.ts';
import type { AgentPlatform } from './agent-platform.ts';

/**
 * Windows: the kernel32 engine in an isolated worker (a detached child is outside the job
 * object that would end it with the agent, and a thread the agent suspended must never stay
 * suspended because the agent died), ToolHelp inventory, and crashes from polling the exit
 * codes of recently patched processes.
 */
export function createWindowsPlatform(): AgentPlatform {
  return {
    name: 'windows',
    engine: ({ stateDir }) =>
      createIsolatedEngine({
        name: 'windows',
        local: createWindowsEngine(),
        pidFile: join(stateDir, 'engine-worker.pid'),
        // Windows reuses pids soon: the worker is known by its pid and creation time.
        processToken: (pid) => windowsStartTime(pid)?.toString(),
      }),
    inventory: createWindowsInventory(),
    processes: createWindowsProcessAccess(),
    watchCrashes({ recent, onCrash }) {
      const watched = (): WatchedProcess[] => {
        const byProcess = new Map<string, WatchedProcess>();
        for (const r of recent()) {
          const w = byProcess.get(`${r.pid}/${r.startTime}`) ?? { pid: r.pid, startTime: r.startTime, patchIds: [] };
          w.patchIds.push(r.patchId);
          byProcess.set(`${r.pid}/${r.startTime}`, w);
        }
        return [...byProcess.values()];
      };
      return watchWindowsExits({
        watched,
        onExit: (e) => {
          if (isCrashExitCode(e.exitCode)) onCrash({ pid: e.pid, startTime: e.startTime, exception: e.exitCode >>> 0, patchIds: e.patchIds });
        },
      });
    },
  };
}
