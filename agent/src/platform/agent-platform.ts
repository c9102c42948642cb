import type { Engine } from '../engines/engine.ts';
import type { Inventory } from '../patching/patch-manager.ts';
import type { ProcessAccess } from '../patching/process-access.ts';
import type { AppliedRecord } from '../patching/state-store.ts';
import { createLinuxPlatform } from './linux-platform.ts';
import { createWindowsPlatform } from './windows-platform.ts';

/** A process that had patches applied died of a crash (not an exit, not an operator's kill). */
export interface CrashReport {
  pid: number;
  startTime: string;
  /** Linux: the fatal signal */
  signal?: number;
  /** Windows: the exception (NTSTATUS) it died of */
  exception?: number;
  patchIds: string[];
}

/**
 * Everything the agent does differently per OS, chosen once at start: the engine (and how it
 * is isolated), the inventory, reading other processes, and crash detection. The rest of the
 * agent (trust, state, patch manager, CLI) is the same code on both.
 */
export interface AgentPlatform {
  name: 'linux' | 'windows';
  engine(opts: { stateDir: string }): Engine & { close?(): void };
  inventory: Inventory;
  processes: ProcessAccess;
  /**
   * Reports crashes of processes among `recent()` (the records applied within the crash window,
   * read when needed): `onCrash` gets the patches the process had.
   */
  watchCrashes(opts: { recent: () => readonly AppliedRecord[]; onCrash: (c: CrashReport) => void }): { poll(): void; stop(): void };
}

export function hostPlatform(): AgentPlatform {
  return process.platform === 'win32' ? createWindowsPlatform() : createLinuxPlatform();
}
