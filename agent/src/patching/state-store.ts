import { mkdirSync, readFileSync, renameSync, writeSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { toHex as hex } from '@suture/shared/encoding';
import type { AppliedPatch, EngineName } from '../engines/engine.ts';

/**
 * The agent's local state, one JSON file written atomically (temp file, fsync, rename): which
 * patch is applied where (pid + start time), what is in flight, what was refused and why, and
 * which patches the crash guard has stopped on this host. A restarted agent reads it to adopt
 * what is applied and never to apply twice.
 */
export interface AppliedRecord {
  patchId: string;
  release: number;
  moduleSha256: string;
  engine: EngineName;
  pid: number;
  startTime: string;
  regions: { address: string; original: string; written: string }[];
  block?: { address: string; size: number };
  at: string;
}

/** Written before an engine call: if the agent dies during it, the next start checks memory. */
export interface Intent {
  op: 'apply' | 'unapply';
  patchId: string;
  pid: number;
  startTime: string;
  at: string;
}

export interface Refusal {
  patchId: string;
  pid: number;
  startTime: string;
  outcome: 'refused' | 'busy' | 'failed';
  reason: string;
  detail: string;
  at: string;
}

export interface Crash {
  patchId: string;
  pid: number;
  startTime?: string;
  /** Linux: the fatal signal */
  signal?: number;
  /** Windows: the exception (NTSTATUS, as hex) the process died of */
  exception?: string;
  at: string;
}

export interface AgentState {
  version: 1;
  applied: AppliedRecord[];
  intents: Intent[];
  refused: Refusal[];
  crashes: Crash[];
  /** patch id -> why the crash guard stopped applying it here */
  stopped: Record<string, string>;
}

const MAX_REFUSED = 200;
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

export function toRecord(a: AppliedPatch, extra: { release: number; moduleSha256: string }): AppliedRecord {
  return {
    patchId: a.patchId,
    release: extra.release,
    moduleSha256: extra.moduleSha256,
    engine: a.engine,
    pid: a.process.pid,
    startTime: a.process.startTime.toString(),
    regions: a.regions.map((g) => ({ address: g.address.toString(16), original: hex(g.original), written: hex(g.written) })),
    ...(a.block ? { block: { address: a.block.address.toString(16), size: a.block.size } } : {}),
    at: new Date().toISOString(),
  };
}

export function fromRecord(r: AppliedRecord): AppliedPatch {
  return {
    engine: r.engine,
    patchId: r.patchId,
    process: { pid: r.pid, startTime: BigInt(r.startTime) },
    regions: r.regions.map((g) => ({ address: BigInt(`0x${g.address}`), original: bytes(g.original), written: bytes(g.written) })),
    ...(r.block ? { block: { address: BigInt(`0x${r.block.address}`), size: r.block.size } } : {}),
  };
}

/**
 * rename(), retried briefly where Windows refuses to replace a file another process (`status`,
 * say) has open at this moment; Linux never fails this way.
 */
function replace(from: string, to: string): void {
  for (let tries = 0; ; tries++) {
    try {
      return renameSync(from, to);
    } catch (err) {
      if (tries >= 400 || !['EPERM', 'EBUSY', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

export function createStateStore(dir: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'state.json');
  let state: AgentState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as AgentState;
    if (state.version !== 1) throw new Error(`unknown state version ${String(state.version)} in ${file}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the agent state ${file}: ${(err as Error).message}; move it aside to start afresh`);
    state = { version: 1, applied: [], intents: [], refused: [], crashes: [], stopped: {} };
  }

  function save(): void {
    const tmp = `${file}.tmp`;
    // fsync through the descriptor that wrote: Windows refuses to flush one opened read-only.
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(state, null, 1));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    replace(tmp, file);
  }

  const same = (a: { patchId: string; pid: number; startTime: string }, b: { patchId: string; pid: number; startTime: string }) =>
    a.patchId === b.patchId && a.pid === b.pid && a.startTime === b.startTime;

  return {
    file,
    get: (): Readonly<AgentState> => state,
    /** Changes the state and writes it to disk before returning. */
    update(fn: (s: AgentState) => void): void {
      fn(state);
      if (state.refused.length > MAX_REFUSED) state.refused.splice(0, state.refused.length - MAX_REFUSED);
      save();
    },
    same,
  };
}
export type StateStore = ReturnType<typeof createStateStore>;
