import { createRequire } from 'node:module';

/**
 * The kernel32 calls the Windows engine and inventory need, through koffi (no compiled code of
 * ours). x64 only: every structure offset below is the x64 layout. Handles are `intptr_t` so a
 * failed call's NULL or INVALID_HANDLE_VALUE (-1) is a plain number; addresses are `uintptr_t`
 * and go in as bigint. Out-parameters are Buffers read little-endian, which keeps 64-bit values
 * (FILETIMEs, SIZE_Ts) exact.
 */
const require = createRequire(import.meta.url);
type Koffi = typeof import('koffi');

export const ACCESS = {
  PROCESS_VM_OPERATION: 0x0008,
  PROCESS_VM_READ: 0x0010,
  PROCESS_VM_WRITE: 0x0020,
  PROCESS_QUERY_INFORMATION: 0x0400,
  PROCESS_QUERY_LIMITED_INFORMATION: 0x1000,
  THREAD_SUSPEND_RESUME: 0x0002,
  THREAD_GET_CONTEXT: 0x0008,
  THREAD_QUERY_LIMITED_INFORMATION: 0x0800,
  SYNCHRONIZE: 0x00100000,
} as const;

export const MEM = { COMMIT: 0x1000, RESERVE: 0x2000, RELEASE: 0x8000, FREE: 0x10000 } as const;
export const PAGE_PROT = { NOACCESS: 0x01, READONLY: 0x02, READWRITE: 0x04, WRITECOPY: 0x08, EXECUTE_READ: 0x20, EXECUTE_READWRITE: 0x40, EXECUTE_WRITECOPY: 0x80 } as const;
export const TH32CS = { SNAPPROCESS: 0x2, SNAPTHREAD: 0x4, SNAPMODULE: 0x8, SNAPMODULE32: 0x10 } as const;
export const WIN_ERROR = { ACCESS_DENIED: 5, INVALID_PARAMETER: 87, PARTIAL_COPY: 299, NO_MORE_FILES: 18 } as const;
export const STILL_ACTIVE = 259;
export const WAIT_OBJECT_0 = 0;
export const INVALID_HANDLE = -1;

/** x64 CONTEXT: 0x4d0 bytes, must be 16-byte aligned; ContextFlags at 0x30, Rip at 0xf8. */
export const CONTEXT = { SIZE: 0x4d0, FLAGS: 0x30, RIP: 0xf8, CONTROL: 0x00100001 } as const;
/** THREADENTRY32 (28 bytes): th32ThreadID at 8, th32OwnerProcessID at 12. */
export const THREADENTRY32 = { SIZE: 28, TID: 8, OWNER: 12 } as const;
/** PROCESSENTRY32W (568 bytes): th32ProcessID at 8, szExeFile (WCHAR[260]) at 44. */
export const PROCESSENTRY32W = { SIZE: 568, PID: 8, EXE: 44, EXE_CHARS: 260 } as const;
/** MODULEENTRY32W (1080 bytes): modBaseAddr at 24, modBaseSize at 32, szModule at 48, szExePath at 560. */
export const MODULEENTRY32W = { SIZE: 1080, BASE: 24, BASE_SIZE: 32, NAME: 48, NAME_CHARS: 256, PATH: 560, PATH_CHARS: 260 } as const;
/** MEMORY_BASIC_INFORMATION (48 bytes). */
export const MBI = { SIZE: 48, BASE: 0, ALLOCATION_BASE: 8, REGION_SIZE: 24, STATE: 32, PROTECT: 36, TYPE: 40 } as const;

type Handle = number;
type Addr = bigint;

export interface Kernel32 {
  koffi: Koffi;
  GetLastError(): number;
  OpenProcess(access: number, inherit: boolean, pid: number): Handle;
  OpenThread(access: number, inherit: boolean, tid: number): Handle;
  CloseHandle(h: Handle): number;
  GetProcessTimes(h: Handle, creation: Buffer, exit: Buffer, kernel: Buffer, user: Buffer): number;
  GetExitCodeProcess(h: Handle, code: Buffer): number;
  WaitForSingleObject(h: Handle, ms: number): number;
  CheckRemoteDebuggerPresent(h: Handle, present: Buffer): number;
  CreateToolhelp32Snapshot(flags: number, pid: number): Handle;
  Thread32First(snap: Handle, entry: Buffer): number;
  Thread32Next(snap: Handle, entry: Buffer): number;
  Process32FirstW(snap: Handle, entry: Buffer): number;
  Process32NextW(snap: Handle, entry: Buffer): number;
  Module32FirstW(snap: Handle, entry: Buffer): number;
  Module32NextW(snap: Handle, entry: Buffer): number;
  SuspendThread(h: Handle): number;
  ResumeThread(h: Handle): number;
  GetThreadContext(h: Handle, context: Addr): number;
  ReadProcessMemory(h: Handle, address: Addr, buf: Buffer, size: Addr, read: Buffer): number;
  WriteProcessMemory(h: Handle, address: Addr, buf: Buffer, size: Addr, written: Buffer): number;
  VirtualQueryEx(h: Handle, address: Addr, info: Buffer, size: Addr): number | bigint;
  VirtualAllocEx(h: Handle, address: Addr, size: Addr, type: number, protect: number): number | bigint;
  VirtualProtectEx(h: Handle, address: Addr, size: Addr, protect: number, old: Buffer): number;
  VirtualFreeEx(h: Handle, address: Addr, size: Addr, type: number): number;
  FlushInstructionCache(h: Handle, address: Addr, size: Addr): number;
}

let loaded: Kernel32 | undefined;

export function kernel32(): Kernel32 {
  if (loaded) return loaded;
  const koffi = require('koffi') as Koffi;
  const lib = koffi.load('kernel32.dll');
  const f = (decl: string) => lib.func(decl);
  loaded = {
    koffi,
    GetLastError: f('uint32_t GetLastError()'),
    OpenProcess: f('intptr_t OpenProcess(uint32_t access, bool inherit, uint32_t pid)'),
    OpenThread: f('intptr_t OpenThread(uint32_t access, bool inherit, uint32_t tid)'),
    CloseHandle: f('int CloseHandle(intptr_t h)'),
    GetProcessTimes: f('int GetProcessTimes(intptr_t h, void *creation, void *exit, void *kernel, void *user)'),
    GetExitCodeProcess: f('int GetExitCodeProcess(intptr_t h, void *code)'),
    WaitForSingleObject: f('uint32_t WaitForSingleObject(intptr_t h, uint32_t ms)'),
    CheckRemoteDebuggerPresent: f('int CheckRemoteDebuggerPresent(intptr_t h, void *present)'),
    CreateToolhelp32Snapshot: f('intptr_t CreateToolhelp32Snapshot(uint32_t flags, uint32_t pid)'),
    Thread32First: f('int Thread32First(intptr_t snap, void *entry)'),
    Thread32Next: f('int Thread32Next(intptr_t snap, void *entry)'),
    Process32FirstW: f('int Process32FirstW(intptr_t snap, void *entry)'),
    Process32NextW: f('int Process32NextW(intptr_t snap, void *entry)'),
    Module32FirstW: f('int Module32FirstW(intptr_t snap, void *entry)'),
    Module32NextW: f('int Module32NextW(intptr_t snap, void *entry)'),
    SuspendThread: f('uint32_t SuspendThread(intptr_t h)'),
    ResumeThread: f('uint32_t ResumeThread(intptr_t h)'),
    GetThreadContext: f('int GetThreadContext(intptr_t h, uintptr_t context)'),
    ReadProcessMemory: f('int ReadProcessMemory(intptr_t h, uintptr_t address, void *buf, uintptr_t size, void *read)'),
    WriteProcessMemory: f('int WriteProcessMemory(intptr_t h, uintptr_t address, void *buf, uintptr_t size, void *written)'),
    VirtualQueryEx: f('uintptr_t VirtualQueryEx(intptr_t h, uintptr_t address, void *info, uintptr_t size)'),
    VirtualAllocEx: f('uintptr_t VirtualAllocEx(intptr_t h, uintptr_t address, uintptr_t size, uint32_t type, uint32_t protect)'),
    VirtualProtectEx: f('int VirtualProtectEx(intptr_t h, uintptr_t address, uintptr_t size, uint32_t protect, void *old)'),
    VirtualFreeEx: f('int VirtualFreeEx(intptr_t h, uintptr_t address, uintptr_t size, uint32_t type)'),
    FlushInstructionCache: f('int FlushInstructionCache(intptr_t h, uintptr_t address, uintptr_t size)'),
  } as Kernel32;
  return loaded;
}

/** Whether kernel32 can be reached through koffi here (Windows x64, or Wine's). */
export function kernel32Available(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'win32' || process.arch !== 'x64') return { ok: false, why: `the windows engine needs x64 Windows, not ${process.platform}/${process.arch}` };
  try {
    kernel32();
    return { ok: true };
  } catch (err) {
    return { ok: false, why: `koffi/kernel32 unavailable: ${(err as Error).message}` };
  }
}

/** A failed Win32 call, with GetLastError's code. */
export class Win32Error extends Error {
  readonly code: number;
  constructor(what: string, code: number) {
    super(`${what} failed (Win32 error ${code})`);
    this.code = code;
  }
}

export function lastError(what: string): Win32Error {
  return new Win32Error(what, kernel32().GetLastError());
}

/** A NUL-terminated UTF-16 string inside a structure. */
export function wideString(buf: Buffer, offset: number, chars: number): string {
  const s = buf.toString('utf16le', offset, offset + chars * 2);
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
}

/** Opens a snapshot, runs `fn`, closes it: no snapshot handle outlives its use. */
export function withSnapshot<T>(flags: number, pid: number, fn: (snap: number) => T): T {
  const k = kernel32();
  const snap = k.CreateToolhelp32Snapshot(flags, pid);
  if (snap === INVALID_HANDLE || snap === 0) throw lastError('CreateToolhelp32Snapshot');
  try {
    return fn(snap);
  } finally {
    k.CloseHandle(snap);
  }
}
