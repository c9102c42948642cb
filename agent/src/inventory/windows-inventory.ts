import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ACCESS, kernel32, MODULEENTRY32W, PROCESSENTRY32W, TH32CS, wideString, withSnapshot } from '../engines/windows/kernel32.ts';
import { creationTime } from '../engines/windows/remote-process.ts';

/**
 * Windows inventory through toolhelp snapshots: every process, and for each the modules
 * (EXE and DLLs) it has loaded, with the sha256 of each module's file. Same shapes as the Linux
 * inventory where they mean the same thing; `startTime` is the creation FILETIME, which is what
 * the Windows engine compares to guard against pid reuse. Processes we may not open (system,
 * other users', protected) and processes that exit mid-scan are counted as skipped.
 */
export interface WindowsModule {
  sha256: string;
  /** file size in bytes (the module identity's size) */
  size: number;
  path: string;
  /** runtime address of RVA 0 (lpBaseOfDll) */
  base: bigint;
  /** SizeOfImage as mapped: the module's address range is [base, base + imageSize) */
  imageSize: number;
  format: 'pe';
  deleted: false;
}

export interface WindowsProcessModules {
  pid: number;
  startTime: bigint;
  comm: string;
  modules: WindowsModule[];
}

interface FileKey {
  key: string;
  size: number;
}

async function fileKey(path: string): Promise<FileKey> {
  const st = await stat(path, { bigint: true });
  return { key: `${path}:${st.size}:${st.mtimeNs}`, size: Number(st.size) };
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every process id and executable name, from one snapshot. */
export function listProcesses(): { pid: number; comm: string }[] {
  const k = kernel32();
  return withSnapshot(TH32CS.SNAPPROCESS, 0, (snap) => {
    const e = Buffer.alloc(PROCESSENTRY32W.SIZE);
    e.writeUInt32LE(PROCESSENTRY32W.SIZE, 0);
    const out: { pid: number; comm: string }[] = [];
    for (let ok = k.Process32FirstW(snap, e); ok; ok = k.Process32NextW(snap, e)) {
      out.push({ pid: e.readUInt32LE(PROCESSENTRY32W.PID), comm: wideString(e, PROCESSENTRY32W.EXE, PROCESSENTRY32W.EXE_CHARS) });
      e.writeUInt32LE(PROCESSENTRY32W.SIZE, 0);
    }
    return out;
  });
}

function processStartTime(pid: number): bigint | undefined {
  const k = kernel32();
  const h = k.OpenProcess(ACCESS.PROCESS_QUERY_LIMITED_INFORMATION, false, pid);
  if (!h) return undefined;
  try {
    return creationTime(h);
  } catch {
    return undefined;
  } finally {
    k.CloseHandle(h);
  }
}

/** Loaded modules of `pid` (path, base, mapped size); throws when the process cannot be read. */
function loadedModules(pid: number): { path: string; base: bigint; imageSize: number }[] {
  const k = kernel32();
  return withSnapshot(TH32CS.SNAPMODULE | TH32CS.SNAPMODULE32, pid, (snap) => {
    const e = Buffer.alloc(MODULEENTRY32W.SIZE);
    e.writeUInt32LE(MODULEENTRY32W.SIZE, 0);
    const out: { path: string; base: bigint; imageSize: number }[] = [];
    for (let ok = k.Module32FirstW(snap, e); ok; ok = k.Module32NextW(snap, e)) {
      out.push({
        path: wideString(e, MODULEENTRY32W.PATH, MODULEENTRY32W.PATH_CHARS),
        base: e.readBigUInt64LE(MODULEENTRY32W.BASE),
        imageSize: e.readUInt32LE(MODULEENTRY32W.BASE_SIZE),
      });
      e.writeUInt32LE(MODULEENTRY32W.SIZE, 0);
    }
    return out;
  });
}

export function createWindowsInventory() {
  // Hashes by path, size and mtime, so a re-scan of the same DLL in many processes hashes it once.
  const hashes = new Map<string, string>();

  async function identify(path: string): Promise<{ sha256: string; size: number }> {
    const f = await fileKey(path);
    let sha256 = hashes.get(f.key);
    if (!sha256) {
      sha256 = await hashFile(path);
      hashes.set(f.key, sha256);
    }
    return { sha256, size: f.size };
  }

  async function scanProcess(pid: number, comm = ''): Promise<WindowsProcessModules | undefined> {
    // The start time is read before the modules: if the pid is reused in between, the modules
    // belong to a process the start time does not name, and the engine then refuses it as gone.
    const startTime = processStartTime(pid);
    if (startTime === undefined) return undefined;
    let mods: ReturnType<typeof loadedModules>;
    try {
      mods = loadedModules(pid);
    } catch {
      return undefined;
    }
    const modules: WindowsModule[] = [];
    for (const m of mods) {
      try {
        modules.push({ ...(await identify(m.path)), path: m.path, base: m.base, imageSize: m.imageSize, format: 'pe', deleted: false });
      } catch {
        // The file is not readable by us (or was removed since it was loaded).
      }
    }
    return { pid, startTime, comm: comm || (mods[0]?.path.split('\\').pop() ?? ''), modules };
  }

  return {
    scanProcess,
    async scan(): Promise<{ processes: WindowsProcessModules[]; skipped: number }> {
      const processes: WindowsProcessModules[] = [];
      let skipped = 0;
      for (const { pid, comm } of listProcesses()) {
        if (pid === 0) continue; // the idle process has no modules
        const p = await scanProcess(pid, comm);
        if (p) processes.push(p);
        else skipped++;
      }
      return { processes, skipped };
    },
  };
}
