/**
 * The one interface every patch engine implements (DESIGN.md, "Patchlets and the engine
 * contract"). The agent resolves a verified patch document against a module loaded in one
 * process (RVAs become addresses) and hands the engine an `ApplyRequest`; the engine hands back
 * an `AppliedPatch` that says exactly what it changed, which the agent persists and later gives
 * back to `unapply`. Engines never see signatures or manifests: that is done before.
 */

export type EngineName = 'linux-ptrace' | 'windows' | 'frida';

/** A process is named by its pid and its start time, so a reused pid is never mistaken for it. */
export interface TargetProcess {
  pid: number;
  /** Linux: clock ticks since boot (/proc/PID/stat field 22). Windows: FILETIME of creation. */
  startTime: bigint;
}

export interface DetourRelocation {
  /** byte offset inside `code` */
  offset: number;
  type: 'rel32' | 'abs64';
  /** runtime address the field must point at */
  target: bigint;
}

/** A patchlet resolved to runtime addresses in one process. */
export type ResolvedPatchlet =
  | { kind: 'in-place'; address: bigint; expect: Uint8Array; write: Uint8Array }
  | { kind: 'detour'; address: bigint; expect: Uint8Array; code: Uint8Array; relocations: DetourRelocation[] };

export interface ApplyRequest {
  process: TargetProcess;
  patchId: string;
  /** The module's mapped range; detour code is placed within +-2 GiB of it. */
  module: { base: bigint; end: bigint };
  patchlets: ResolvedPatchlet[];
}

/** One byte range an engine changed: `original` was there, `written` is there now. */
export interface ChangedRegion {
  address: bigint;
  original: Uint8Array;
  written: Uint8Array;
}

/** Everything needed to undo an apply; persisted by the agent as local state. */
export interface AppliedPatch {
  engine: EngineName;
  patchId: string;
  process: TargetProcess;
  regions: ChangedRegion[];
  /** Memory the engine allocated for detour code (starts with the recognisable header). */
  block?: { address: bigint; size: number };
}

export type RefusalReason =
  | 'gone' // the process exited, or the pid now names another process
  | 'already-traced' // a debugger or another tracer holds the process
  | 'unexpected-bytes' // `expect` (apply) or our bytes (unapply) are not in memory
  | 'unsafe' // an injected syscall could be killed (seccomp) or has nothing to borrow
  | 'no-space' // no free gap within +-2 GiB of the module for detour code
  | 'access-denied'; // the OS refused access to the process

export type EngineOutcome<T extends 'applied' | 'unapplied'> =
  | { outcome: T; applied: AppliedPatch }
  | { outcome: 'refused'; reason: RefusalReason; detail: string }
  | { outcome: 'busy'; detail: string }
  | { outcome: 'failed'; reason: string; detail: string };

export type Availability = { ok: true } | { ok: false; why: string };

export interface Engine {
  readonly name: EngineName;
  /** Whether this engine can run here; `why` is shown to the operator and in skipped tests. */
  available(): Availability;
  /** All patchlets go in inside one stop window, or none does. */
  apply(req: ApplyRequest): Promise<EngineOutcome<'applied'>>;
  /** Verifies our bytes are still there, restores the originals, releases detour memory. */
  unapply(applied: AppliedPatch): Promise<EngineOutcome<'unapplied'>>;
}

/** Detour blocks start with this header: magic, then the patch id, so our work is recognisable. */
export const BLOCK_MAGIC = Buffer.from('SUTURE\x00\x01', 'latin1');
export const BLOCK_HEADER_SIZE = 8 + 1 + 128 + 7; // magic, id length, id (max 128), pad to 16

export function blockHeader(patchId: string): Uint8Array {
  const h = Buffer.alloc(BLOCK_HEADER_SIZE);
  BLOCK_MAGIC.copy(h, 0);
  const id = Buffer.from(patchId, 'latin1');
  h[8] = id.length;
  id.copy(h, 9);
  return h;
}

/** The patch id in a block header, or undefined when the bytes are not one of ours. */
export function readBlockHeader(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < BLOCK_HEADER_SIZE || !b.subarray(0, 8).equals(BLOCK_MAGIC)) return undefined;
  const n = b[8]!;
  return n > 0 && n <= 128 ? b.subarray(9, 9 + n).toString('latin1') : undefined;
}
