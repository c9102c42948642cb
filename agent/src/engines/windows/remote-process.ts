import type { RefusalReason } from '../engine.ts';
import { ACCESS, kernel32, lastError, MBI, MEM, PAGE_PROT, STILL_ACTIVE, WIN_ERROR, Win32Error } from './kernel32.ts';

/**
 * One opened process and the memory operations the engine performs on it. Every call checks its
 * result: a Win32 failure becomes a Win32Error, never a silently ignored zero.
 */
export interface RemoteProcess {
  pid: number;
  handle: number;
  close(): void;
}

/** Why a process cannot be opened, as the engine reports it. */
export class OpenRefusal extends Error {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

const ENGINE_ACCESS = ACCESS.PROCESS_VM_OPERATION | ACCESS.PROCESS_VM_READ | ACCESS.PROCESS_VM_WRITE | ACCESS.PROCESS_QUERY_INFORMATION;

/** FILETIME of the process's creation, as one 64-bit number (what TargetProcess.startTime holds). */
export function creationTime(handle: number): bigint {
  const k = kernel32();
  const creation = Buffer.alloc(8);
  const scratch = Buffer.alloc(8);
  if (!k.GetProcessTimes(handle, creation, scratch, Buffer.alloc(8), Buffer.alloc(8))) throw lastError('GetProcessTimes');
  return creation.readBigUInt64LE(0);
}

function stillRunning(handle: number): boolean {
  const code = Buffer.alloc(4);
  if (!kernel32().GetExitCodeProcess(handle, code)) throw lastError('GetExitCodeProcess');
  return code.readUInt32LE(0) === STILL_ACTIVE;
}

/**
 * Opens `pid` for patching, or throws OpenRefusal: `gone` when it does not exist, has exited or
 * is another process than the one started at `startTime` (pid reuse), `access-denied` when the
 * OS refuses, `already-traced` when a debugger is attached (it would see our suspensions and
 * could rewrite the same bytes).
 */
export function openForPatching(pid: number, startTime: bigint): RemoteProcess {
  const k = kernel32();
  const handle = k.OpenProcess(ENGINE_ACCESS, false, pid);
  if (!handle) {
    const code = k.GetLastError();
    if (code === WIN_ERROR.ACCESS_DENIED) throw new OpenRefusal('access-denied', `OpenProcess(${pid}) was denied`);
    throw new OpenRefusal('gone', `process ${pid} does not exist (OpenProcess error ${code})`);
  }
  const proc: RemoteProcess = { pid, handle, close: () => void k.CloseHandle(handle) };
  try {
    const created = creationTime(handle);
    if (created !== startTime) throw new OpenRefusal('gone', `pid ${pid} now names a process created at ${created}, not ${startTime}`);
    if (!stillRunning(handle)) throw new OpenRefusal('gone', `process ${pid} has exited`);
    const debugged = Buffer.alloc(4);
    if (k.CheckRemoteDebuggerPresent(handle, debugged) && debugged.readInt32LE(0) !== 0)
      throw new OpenRefusal('already-traced', `process ${pid} has a debugger attached`);
    return proc;
  } catch (err) {
    proc.close();
    throw err;
  }
}

export function readMemory(proc: RemoteProcess, address: bigint, length: number): Uint8Array {
  const buf = Buffer.alloc(length);
  const got = Buffer.alloc(8);
  if (!kernel32().ReadProcessMemory(proc.handle, address, buf, BigInt(length), got) || Number(got.readBigUInt64LE(0)) !== length)
    throw lastError(`ReadProcessMemory(0x${address.toString(16)}, ${length})`);
  return new Uint8Array(buf);
}

function writeMemory(proc: RemoteProcess, address: bigint, bytes: Uint8Array): void {
  const put = Buffer.alloc(8);
  if (!kernel32().WriteProcessMemory(proc.handle, address, Buffer.from(bytes), BigInt(bytes.length), put) || Number(put.readBigUInt64LE(0)) !== bytes.length)
    throw lastError(`WriteProcessMemory(0x${address.toString(16)}, ${bytes.length})`);
}

export interface MemoryRegion {
  base: bigint;
  allocationBase: bigint;
  size: bigint;
  state: number;
  protect: number;
}

export function queryMemory(proc: RemoteProcess, address: bigint): MemoryRegion | undefined {
  const info = Buffer.alloc(MBI.SIZE);
  if (!Number(kernel32().VirtualQueryEx(proc.handle, address, info, BigInt(MBI.SIZE)))) return undefined; // past the user address space
  return {
    base: info.readBigUInt64LE(MBI.BASE),
    allocationBase: info.readBigUInt64LE(MBI.ALLOCATION_BASE),
    size: info.readBigUInt64LE(MBI.REGION_SIZE),
    state: info.readUInt32LE(MBI.STATE),
    protect: info.readUInt32LE(MBI.PROTECT),
  };
}

/** Free (MEM_FREE) regions overlapping [from, to), in address order. */
export function freeRegions(proc: RemoteProcess, from: bigint, to: bigint): { start: bigint; end: bigint }[] {
  const out: { start: bigint; end: bigint }[] = [];
  for (let at = from; at < to; ) {
    const r = queryMemory(proc, at);
    if (!r || r.size === 0n) break;
    if (r.state === MEM.FREE) out.push({ start: r.base > from ? r.base : from, end: r.base + r.size < to ? r.base + r.size : to });
    at = r.base + r.size;
  }
  return out;
}

function protect(proc: RemoteProcess, address: bigint, size: number, prot: number): number {
  const old = Buffer.alloc(4);
  if (!kernel32().VirtualProtectEx(proc.handle, address, BigInt(size), prot, old)) throw lastError(`VirtualProtectEx(0x${address.toString(16)}, 0x${prot.toString(16)})`);
  return old.readUInt32LE(0);
}

/** Reserves and commits read-write memory exactly at `address`; false when that range is taken. */
export function allocateAt(proc: RemoteProcess, address: bigint, size: number): boolean {
  const got = BigInt(kernel32().VirtualAllocEx(proc.handle, address, BigInt(size), MEM.RESERVE | MEM.COMMIT, PAGE_PROT.READWRITE));
  if (got === 0n) return false;
  if (got !== address) {
    freeMemory(proc, got);
    return false;
  }
  return true;
}

export function freeMemory(proc: RemoteProcess, address: bigint): void {
  if (!kernel32().VirtualFreeEx(proc.handle, address, 0n, MEM.RELEASE)) throw lastError(`VirtualFreeEx(0x${address.toString(16)})`);
}

/** Writes the detour block into its read-write allocation, then makes it execute-read (never writable and executable at once). */
export function writeBlock(proc: RemoteProcess, address: bigint, bytes: Uint8Array): void {
  writeMemory(proc, address, bytes);
  protect(proc, address, bytes.length, PAGE_PROT.EXECUTE_READ);
  if (!kernel32().FlushInstructionCache(proc.handle, address, BigInt(bytes.length))) throw lastError('FlushInstructionCache');
}

const PAGE = 4096n;

/**
 * Writes code bytes page by page: the page is made PAGE_READWRITE (not executable while it is
 * writable), written, and given back exactly its old protection, which is then checked with
 * VirtualQueryEx, so a page never stays writable. Every thread is suspended while this runs.
 * The bytes are read back before returning.
 */
export function writeCode(proc: RemoteProcess, address: bigint, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) {
    const at = address + BigInt(off);
    const pageEnd = (at & ~(PAGE - 1n)) + PAGE;
    const n = Math.min(bytes.length - off, Number(pageEnd - at));
    const old = protect(proc, at, n, PAGE_PROT.READWRITE);
    try {
      writeMemory(proc, at, bytes.subarray(off, off + n));
    } finally {
      protect(proc, at, n, old);
    }
    const now = queryMemory(proc, at)?.protect;
    if (now !== old) throw new Win32Error(`restoring protection 0x${old.toString(16)} at 0x${at.toString(16)} (now 0x${now?.toString(16)})`, 0);
    off += n;
  }
  if (!kernel32().FlushInstructionCache(proc.handle, address, BigInt(bytes.length))) throw lastError('FlushInstructionCache');
  const back = readMemory(proc, address, bytes.length);
  if (Buffer.compare(Buffer.from(back), Buffer.from(bytes)) !== 0)
    throw new Win32Error(`read back ${Buffer.from(back).toString('hex')} at 0x${address.toString(16)}, wrote ${Buffer.from(bytes).toString('hex')}`, 0);
}
