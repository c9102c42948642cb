import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope, pinRoot, verifyPublishedPatch } from '@suture/shared/trust';
import type { PatchDocument, RootDocument } from '@suture/shared/schemas';
import type { Engine } from './engines/engine.ts';
import { createPatchManager, type PatchEvent } from './patching/patch-manager.ts';
import { hostPlatform, type AgentPlatform } from './platform/agent-platform.ts';
import { createStateStore } from './patching/state-store.ts';
import { summarizeHost, type HostSummary } from './fleet/host-summary.ts';
import { createTrustStore, type DesiredInput } from './fleet/trust-store.ts';

/** A crash this soon after a change counts against the patch. */
export const CRASH_WINDOW_MS = 60_000;

export class AgentError extends Error {}

/**
 * The agent on one host, for local use: a pinned root, the signed patches enabled here (kept
 * in the state dir, re-verified at every start), the local state, and the engine (in its own
 * worker process). `run()` keeps every enabled patch applied to every process that loads its
 * module, including processes and libraries that appear later, and watches for crashes. What
 * differs between Linux and Windows is in `platform` (see platform/).
 */
export function createAgentRuntime(opts: { stateDir: string; platform?: AgentPlatform; engine?: Engine; onEvent?: (e: PatchEvent) => void; onScan?: (s: HostSummary) => void }) {
  const platform = opts.platform ?? hostPlatform();
  const state = createStateStore(opts.stateDir);
  const patchDir = join(opts.stateDir, 'patches');
  const rootFile = join(opts.stateDir, 'root.json');
  mkdirSync(patchDir, { recursive: true, mode: 0o700 });
  const trust = createTrustStore({ stateDir: opts.stateDir, rootFile });
  const engine = opts.engine ?? platform.engine({ stateDir: opts.stateDir });
  const manager = createPatchManager({ engine, inventory: platform.inventory, processes: platform.processes, state, onEvent: opts.onEvent });

  function root(): RootDocument {
    if (!existsSync(rootFile)) throw new AgentError(`no root is pinned in ${opts.stateDir}: pass --root <root.json> once`);
    const r = pinRoot({ bytes: readFileSync(rootFile), now: new Date() });
    if (!r.ok) throw new AgentError(`the pinned root is no longer valid (${r.reason}: ${r.detail}); pin a current one`);
    return r.value.root.document;
  }

  function pin(bytes: Uint8Array): void {
    const r = pinRoot({ bytes, now: new Date() });
    if (!r.ok) throw new AgentError(`root refused: ${r.reason}: ${r.detail}`);
    if (existsSync(rootFile) && !Buffer.from(readFileSync(rootFile)).equals(Buffer.from(bytes)))
      throw new AgentError(`a different root is already pinned in ${rootFile}; remove the state dir to start over with another`);
    writeFileSync(rootFile, bytes, { mode: 0o600 });
  }

  function verify(bytes: Uint8Array): PatchDocument {
    const r = verifyPublishedPatch({ root: root(), bytes });
    if (!r.ok) throw new AgentError(`patch refused, nothing was changed: ${r.reason}: ${r.detail}`);
    return r.value.document;
  }

  /** The enabled patches, each re-verified against the pinned root. */
  function enabled(): PatchDocument[] {
    return readdirSync(patchDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => verify(readFileSync(join(patchDir, f))));
  }

  /**
   * One agent at a time changes a state dir: `run` holds this for its life, apply/unapply for
   * theirs (status only reads). A lock whose holder is gone (pid dead or reused) is taken over.
   */
  const lockFile = join(opts.stateDir, 'agent.lock');
  let locked = false;
  async function lock(): Promise<void> {
    if (locked) return;
    const me = `${process.pid} ${await platform.processes.startTime(process.pid)}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(lockFile, me, { flag: 'wx', mode: 0o600 });
        locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const [pid, start] = readFileSync(lockFile, 'utf8').trim().split(' ');
      if (start !== undefined && String(await platform.processes.startTime(Number(pid))) === start)
        throw new AgentError(`another suture-agent (pid ${pid}) is using ${opts.stateDir}; stop it first (a running daemon: stop it, apply or unapply, start it again)`);
      rmSync(lockFile, { force: true }); // its holder is gone
    }
    throw new AgentError(`could not take ${lockFile}`);
  }

  let timer: NodeJS.Timeout | undefined;
  let crashes: ReturnType<AgentPlatform['watchCrashes']> | undefined;
  let busy: Promise<void> = Promise.resolve();
  /** One thing at a time: scans, crash records and server commands never overlap. */
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = busy.then(fn, fn);
    busy = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  return {
    state,
    manager,
    pin,
    verify,
    /** Enables a signed patch here and applies it everywhere it matches. */
    async apply(bytes: Uint8Array): Promise<PatchDocument> {
      const doc = verify(bytes);
      await lock();
      const tmp = join(patchDir, `${doc.id}.json.tmp`);
      writeFileSync(tmp, bytes, { mode: 0o600 });
      renameSync(tmp, join(patchDir, `${doc.id}.json`));
      manager.setPatches(enabled());
      await manager.adopt();
      await manager.enforce();
      return doc;
    },
    /**
     * Disables a patch here and takes it out of every process. Named by id or by its patch file;
     * no signature or root is needed: it only restores the bytes the state says we replaced (so
     * an expired root never stands between an operator and taking a patch out).
     */
    async unapply(patch: { id: string } | { bytes: Uint8Array }): Promise<{ patchId: string; events: PatchEvent[] }> {
      await lock();
      let patchId: string;
      if ('id' in patch) patchId = patch.id;
      else {
        const parsed = parseEnvelope(patch.bytes, 'patch');
        if (!parsed.ok) throw new AgentError(`not a patch file (${parsed.reason}: ${parsed.detail}); pass the patch id instead`);
        patchId = parsed.value.document.id;
      }
      rmSync(join(patchDir, `${patchId}.json`), { force: true });
      manager.setPatches(existsSync(rootFile) ? enabled() : []);
      await manager.adopt();
      return { patchId, events: await manager.unapply(patchId) };
    },
    /** Read-only (a running daemon owns the state file): records of exited processes are left out. */
    async status() {
      const s = state.get();
      const live = [];
      for (const r of s.applied) if ((await platform.processes.startTime(r.pid))?.toString() === r.startTime) live.push(r);
      return { enabled: existsSync(rootFile) ? enabled().map((d) => ({ id: d.id, release: d.release, module: d.module.name })) : [], ...s, applied: live };
    },
    /**
     * The server's desired state: exactly these patches enabled here. Each envelope is verified
     * with its module's online-signed manifest and the root chain (trust-store.ts) first; a
     * refused one is reported and skipped, and one already enabled stays as it was. Patches no
     * longer enabled are taken out; what is enabled is applied at once.
     */
    async setDesired(input: DesiredInput): Promise<void> {
      await lock();
      const keep = new Set<string>();
      for (const v of trust.verify(input)) {
        if (!v.ok) {
          opts.onEvent?.({ type: 'refused', patchId: v.id, pid: 0, reason: 'verification', detail: `${v.reason}: ${v.detail}`.slice(0, 2000) });
          if (existsSync(join(patchDir, `${v.id}.json`))) keep.add(v.id); // keep enforcing what was accepted before
          continue;
        }
        const file = join(patchDir, `${v.id}.json`);
        if (!existsSync(file) || !Buffer.from(readFileSync(file)).equals(Buffer.from(v.bytes))) {
          writeFileSync(`${file}.tmp`, v.bytes, { mode: 0o600 });
          renameSync(`${file}.tmp`, file);
        }
        keep.add(v.id);
      }
      const dropped = readdirSync(patchDir).filter((f) => f.endsWith('.json') && !keep.has(f.slice(0, -5)));
      for (const f of dropped) rmSync(join(patchDir, f), { force: true });
      manager.setPatches(enabled());
      for (const f of dropped) await manager.unapply(f.slice(0, -5));
      await manager.enforce();
    },
    /** Runs `fn` between scans (never during one), e.g. a command from the server. */
    serialized: serial,
    /** Runs until `stop()`: a scan every `intervalMs`, crash guard on. */
    async run(runOpts: { intervalMs?: number } = {}) {
      await lock();
      manager.setPatches(enabled());
      await manager.adopt();
      crashes = platform.watchCrashes({
        recent: () => state.get().applied.filter((r) => Date.now() - Date.parse(r.at) < CRASH_WINDOW_MS),
        onCrash: (c) => void serial(async () => manager.crashed(c)),
      });
      const tick = () =>
        serial(async () => {
          const { processes } = await platform.inventory.scan();
          await manager.enforce(processes);
          crashes?.poll(); // watch what was just patched before it can die (Windows polls)
          await manager.forgetExited();
          opts.onScan?.(summarizeHost({ processes, patches: manager.patches(), state: state.get(), selfPid: process.pid }));
        });
      await tick();
      timer = setInterval(() => void tick(), runOpts.intervalMs ?? 1000);
    },
    async stop() {
      if (timer) clearInterval(timer);
      crashes?.stop();
      await busy;
      (engine as { close?: () => void }).close?.();
      if (locked) rmSync(lockFile, { force: true });
      locked = false;
    },
  };
}
export type AgentRuntime = ReturnType<typeof createAgentRuntime>;
