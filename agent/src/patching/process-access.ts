import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { BLOCK_HEADER_SIZE, readBlockHeader } from '../engines/engine.ts';
import { parseMaps } from '../inventory/proc-maps.ts';
import { readProcess } from '../inventory/processes.ts';

/**
 * What the patch manager reads of other processes without an engine: whether a pid still names
 * the process it recorded (start time), and memory, to settle after a restart what a killed
 * agent left in flight. One implementation per platform; every method answers `undefined` when
 * the process is gone or unreadable, because a process may exit at any moment.
 */
export interface ProcessAccess {
  /** The start time as the inventory and the engine record it, or undefined when the pid names no live process. */
  startTime(pid: number): Promise<bigint | undefined>;
  read(pid: number, address: bigint, length: number): Uint8Array | undefined;
  /** Our detour block for `patchId` in `pid`, recognised by its header (see `blockHeader`). */
  findBlock(pid: number, patchId: string): { address: bigint; size: number } | undefined;
}

function readMem(pid: number, address: bigint, length: number): Uint8Array | undefined {
  let fd = -1;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
    const buf = Buffer.alloc(length);
    return readSync(fd, buf, 0, length, Number(address)) === length ? new Uint8Array(buf) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Linux: /proc/PID/stat for the start time, /proc/PID/mem for memory, anonymous r-x mappings for blocks. */
export function createLinuxProcessAccess(): ProcessAccess {
  return {
    startTime: async (pid) => (await readProcess(pid))?.startTime,
    read: readMem,
    findBlock(pid, patchId) {
      let maps: string;
      try {
        maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      } catch {
        return undefined;
      }
      for (const m of parseMaps(maps)) {
        if (m.inode !== 0 || m.path !== '' || m.perms !== 'r-xp') continue;
        const head = readMem(pid, m.start, BLOCK_HEADER_SIZE);
        if (head && readBlockHeader(head) === patchId) return { address: m.start, size: Number(m.end - m.start) };
      }
      return undefined;
    },
  };
}
