import { ACCESS, kernel32, WAIT_OBJECT_0 } from '../engines/windows/kernel32.ts';
import { creationTime } from '../engines/windows/remote-process.ts';

/**
 * Crash detection on Windows, which has no host-wide feed of exits with their cause (Linux has
 * the proc connector). The agent is not the parent of what it patches, so it holds a handle to
 * each process it patched recently and polls it: a handle keeps the process object, and with it
 * the exit code, alive after the process ends, and keeps its pid from being reused meanwhile.
 */

/** An unhandled exception ends a process with its NTSTATUS (severity "error", 0xC0000000 and up) as the exit code. */
export function isCrashExitCode(code: number): boolean {
  return code >>> 0 >= 0xc000_0000;
}

export interface WatchedProcess {
  pid: number;
  startTime: string;
  /** the patches applied there, as known at the last poll (reported with the exit) */
  patchIds: string[];
}

export interface WindowsExit extends WatchedProcess {
  exitCode: number;
}

interface Held extends WatchedProcess {
  /** 0 when it could not be opened as that process (gone already, or the pid names another) */
  handle: number;
}

/**
 * Polls every `intervalMs` (and on `poll()`): reports each watched process that has exited,
 * whatever its exit code, once. `watched()` is read after the exits are collected, so a process
 * the caller has already forgotten (it exited) is still reported with the patches it had.
 */
export function watchWindowsExits(opts: { watched: () => WatchedProcess[]; onExit: (e: WindowsExit) => void; intervalMs?: number }): { poll(): void; stop(): void } {
  const k = kernel32();
  const held = new Map<string, Held>();
  // Reported exits are never watched again: until the caller's record of the process is gone,
  // `watched()` still lists it, and OpenProcess can still reach the dead process object.
  const reported = new Set<string>();
  const key = (w: { pid: number; startTime: string }) => `${w.pid}/${w.startTime}`;

  function open(w: WatchedProcess): number {
    const h = k.OpenProcess(ACCESS.SYNCHRONIZE | ACCESS.PROCESS_QUERY_LIMITED_INFORMATION, false, w.pid);
    if (!h) return 0;
    try {
      if (creationTime(h).toString() === w.startTime) return h;
    } catch {
      /* not ours to watch */
    }
    k.CloseHandle(h);
    return 0;
  }

  function poll(): void {
    const code = Buffer.alloc(4);
    for (const [id, h] of held) {
      if (!h.handle || k.WaitForSingleObject(h.handle, 0) !== WAIT_OBJECT_0) continue;
      const known = k.GetExitCodeProcess(h.handle, code) !== 0;
      k.CloseHandle(h.handle);
      held.delete(id);
      reported.add(id);
      if (known) opts.onExit({ pid: h.pid, startTime: h.startTime, patchIds: h.patchIds, exitCode: code.readUInt32LE(0) });
    }
    const want = new Map(opts.watched().map((w) => [key(w), w]));
    for (const [id, h] of held) {
      if (want.has(id)) continue;
      if (h.handle) k.CloseHandle(h.handle);
      held.delete(id);
    }
    for (const [id, w] of want) {
      if (reported.has(id)) continue;
      const h = held.get(id);
      if (h) h.patchIds = w.patchIds;
      else held.set(id, { ...w, handle: open(w) });
    }
  }

  const timer = setInterval(poll, opts.intervalMs ?? 250);
  return {
    poll,
    stop() {
      clearInterval(timer);
      for (const h of held.values()) if (h.handle) k.CloseHandle(h.handle);
      held.clear();
    },
  };
}
