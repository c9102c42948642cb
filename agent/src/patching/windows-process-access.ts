import { BLOCK_HEADER_SIZE, readBlockHeader } from '../engines/engine.ts';
import { ACCESS, kernel32, MBI, MEM, PAGE_PROT, STILL_ACTIVE } from '../engines/windows/kernel32.ts';
import { creationTime, readMemory, type RemoteProcess } from '../engines/windows/remote-process.ts';
import type { ProcessAccess } from './process-access.ts';

/** MEMORY_BASIC_INFORMATION.Type of VirtualAllocEx memory (not an image or a file mapping). */
const MEM_PRIVATE = 0x20000;
const LOWEST = 0x10000n;
const HIGHEST = 0x7fff_ffff_0000n;

/** Opens `pid` with `access`, runs `fn`, closes: no handle outlives one question. */
function withProcess<T>(pid: number, access: number, fn: (p: RemoteProcess) => T): T | undefined {
  const k = kernel32();
  const handle = k.OpenProcess(access, false, pid);
  if (!handle) return undefined;
  try {
    return fn({ pid, handle, close: () => undefined });
  } catch {
    return undefined; // exited, or the range is not readable
  } finally {
    k.CloseHandle(handle);
  }
}

function exited(handle: number): boolean {
  const code = Buffer.alloc(4);
  return !kernel32().GetExitCodeProcess(handle, code) || code.readUInt32LE(0) !== STILL_ACTIVE;
}

/** The creation FILETIME of `pid` while it runs (undefined once it has exited, or when it cannot be opened). */
export function windowsStartTime(pid: number): bigint | undefined {
  // A process that has exited stays openable while anyone holds a handle to it: ask.
  return withProcess(pid, ACCESS.PROCESS_QUERY_LIMITED_INFORMATION, (p) => (exited(p.handle) ? undefined : creationTime(p.handle)));
}

/**
 * Windows: the creation FILETIME (what the Windows inventory and engine record), memory through
 * ReadProcessMemory, and detour blocks found by walking the address space with VirtualQueryEx:
 * the engine allocates each block on its own (private, committed, PAGE_EXECUTE_READ once
 * written), so a block is a region that starts its allocation and begins with our header.
 */
export function createWindowsProcessAccess(): ProcessAccess {
  const k = () => kernel32();
  return {
    startTime: async (pid) => windowsStartTime(pid),
    read(pid, address, length) {
      return withProcess(pid, ACCESS.PROCESS_VM_READ | ACCESS.PROCESS_QUERY_LIMITED_INFORMATION, (p) => readMemory(p, address, length));
    },
    findBlock(pid, patchId) {
      return withProcess(pid, ACCESS.PROCESS_VM_READ | ACCESS.PROCESS_QUERY_INFORMATION, (p) => {
        const info = Buffer.alloc(MBI.SIZE);
        for (let at = LOWEST; at < HIGHEST; ) {
          if (!Number(k().VirtualQueryEx(p.handle, at, info, BigInt(MBI.SIZE)))) return undefined;
          const base = info.readBigUInt64LE(MBI.BASE);
          const size = info.readBigUInt64LE(MBI.REGION_SIZE);
          if (size === 0n) return undefined;
          const ours =
            info.readUInt32LE(MBI.STATE) === MEM.COMMIT &&
            info.readUInt32LE(MBI.PROTECT) === PAGE_PROT.EXECUTE_READ &&
            info.readUInt32LE(MBI.TYPE) === MEM_PRIVATE &&
            info.readBigUInt64LE(MBI.ALLOCATION_BASE) === base;
          if (ours && size >= BigInt(BLOCK_HEADER_SIZE)) {
            let head: Uint8Array | undefined;
            try {
              head = readMemory(p, base, BLOCK_HEADER_SIZE);
            } catch {
              head = undefined; // freed since the query
            }
            if (head && readBlockHeader(head) === patchId) return { address: base, size: Number(size) };
          }
          at = base + size;
        }
        return undefined;
      });
    },
  };
}
