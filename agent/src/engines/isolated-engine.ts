import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppliedPatch, ApplyRequest, Engine, EngineName, EngineOutcome } from './engine.ts';

/**
 * Runs an engine in a child process of its own session, so that killing the agent (even with
 * SIGKILL) never cuts a stop window short: the worker finishes the change it is making, which
 * leaves every target fully patched or fully original, and exits when it sees the agent gone.
 * The agent learns the result on restart from its intent log and the target's memory.
 */
export function createIsolatedEngine(opts: { name: EngineName; local: Engine }): Engine & { close(): void } {
  let worker: ChildProcess | undefined;
  let seq = 0;
  const pending = new Map<number, (r: unknown) => void>();

  function start(): ChildProcess {
    if (worker?.connected) return worker;
    const w = fork(fileURLToPath(new URL('./engine-worker.ts', import.meta.url)), [opts.name], {
      execArgv: process.execArgv,
      detached: true, // its own process group: a signal to the agent's group does not reach it
      serialization: 'advanced', // bigint and Uint8Array cross as they are
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    w.on('message', (m: { id: number; result: unknown }) => {
      pending.get(m.id)?.(m.result);
      pending.delete(m.id);
    });
    w.on('exit', () => {
      for (const [id, resolve] of pending) resolve({ outcome: 'failed', reason: 'engine-worker', detail: 'the engine worker exited; the change is settled from memory on the next start' }), pending.delete(id);
      if (worker === w) worker = undefined;
    });
    w.unref();
    (w.channel as { unref?: () => void } | undefined)?.unref?.();
    return (worker = w);
  }

  function call<T>(op: 'apply' | 'unapply', arg: unknown): Promise<T> {
    const w = start();
    const id = ++seq;
    return new Promise<T>((resolve) => {
      pending.set(id, resolve as (r: unknown) => void);
      (w.channel as { ref?: () => void } | undefined)?.ref?.();
      w.send({ id, op, arg });
    }).finally(() => {
      if (pending.size === 0) (worker?.channel as { unref?: () => void } | undefined)?.unref?.();
    });
  }

  return {
    name: opts.name,
    available: () => opts.local.available(),
    apply: (req: ApplyRequest) => call<EngineOutcome<'applied'>>('apply', req),
    unapply: (applied: AppliedPatch) => call<EngineOutcome<'unapplied'>>('unapply', applied),
    close() {
      worker?.disconnect();
      worker = undefined;
    },
  };
}
