import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppliedPatch, ApplyRequest, Engine, EngineName, EngineOutcome } from './engine.ts';

/**
 * Runs an engine in a child process of its own session, so that killing the agent (even with
 * SIGKILL) never cuts a stop window short: the worker finishes the change it is making, which
 * leaves every target fully patched or fully original, and exits when it sees the agent gone.
 * The agent learns the result on restart from its intent log and the target's memory. On
 * Windows this matters even more: threads suspended by an agent that dies stay suspended.
 *
 * The worker is `engine-worker` beside this module with this module's extension: the .ts file
 * when run from source, the .mjs bundle a build places next to the agent's bundle.
 */
export function createIsolatedEngine(opts: {
  name: EngineName;
  local: Engine;
  pidFile: string;
  /**
   * Names one process (its start time, say). When given, the pid file holds the worker's too and
   * a previous worker counts as running while its pid still has that token, so a reused pid is
   * never taken for it. Without it (Linux), /proc/PID/cmdline tells.
   */
  processToken?: (pid: number) => string | undefined;
}): Engine & { close(): void } {
  const token = opts.processToken;
  let worker: ChildProcess | undefined;
  let seq = 0;
  const pending = new Map<number, (r: unknown) => void>();

  /** A worker left by a killed agent may still be finishing a change: wait for it first. */
  async function previousWorkerGone(): Promise<void> {
    let text: string;
    try {
      text = readFileSync(opts.pidFile, 'utf8');
    } catch {
      return;
    }
    const [pidText, was] = text.trim().split(' ');
    const pid = Number(pidText);
    const running = () => (token ? was !== undefined && token(pid) === was : linuxEngineWorker(pid));
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(20)) if (!running()) return;
    throw new Error(`the engine worker ${pid} of a previous agent is still running after 30 s; stop it before starting another agent`);
  }

  async function start(): Promise<ChildProcess> {
    if (worker?.connected) return worker;
    await previousWorkerGone();
    const self = fileURLToPath(import.meta.url);
    const w = fork(fileURLToPath(new URL(`./engine-worker${extname(self)}`, import.meta.url)), [opts.name], {
      execArgv: process.execArgv,
      // Linux: its own process group, so a signal to the agent's group does not reach it.
      // Windows: outside the job object that makes libuv's children die with their parent.
      detached: true,
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
    writeFileSync(opts.pidFile, token ? `${w.pid} ${token(w.pid!) ?? ''}` : String(w.pid));
    w.unref();
    (w.channel as { unref?: () => void } | undefined)?.unref?.();
    return (worker = w);
  }

  async function call<T>(op: 'apply' | 'unapply', arg: unknown): Promise<T> {
    const w = await start();
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

function linuxEngineWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('engine-worker');
  } catch {
    return false;
  }
}
