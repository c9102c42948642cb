/**
 * The bench's running targets, so that every one is killed on every path: normal end, error,
 * Ctrl-C. A target whose start fails is not tracked here, but it exits on its own when our end of
 * its stdin closes (target.c returns from main at EOF).
 */
import { startTarget, type BuiltTarget, type RunningTarget } from '../src/test-targets/elf-targets.test-helper.ts';

export interface TargetPool {
  start(threads: number): Promise<RunningTarget>;
  /** Starts `count` targets, `batch` at a time. */
  startMany(count: number, threads: number, batch?: number): Promise<RunningTarget[]>;
  stop(r: RunningTarget): Promise<void>;
  stopAll(): Promise<void>;
  /** Synchronous, for signal and exit handlers. */
  killAll(): void;
  readonly size: number;
}

export function createTargetPool(target: BuiltTarget): TargetPool {
  const live = new Set<RunningTarget>();

  async function start(threads: number): Promise<RunningTarget> {
    const r = await startTarget(target, { threads });
    live.add(r);
    r.child.once('exit', () => live.delete(r));
    return r;
  }

  return {
    start,
    async startMany(count, threads, batch = 25) {
      const out: RunningTarget[] = [];
      while (out.length < count) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - out.length) }, () => start(threads)))));
      return out;
    },
    async stop(r) {
      await r.stop();
      live.delete(r);
    },
    async stopAll() {
      await Promise.all([...live].map((r) => r.stop()));
      live.clear();
    },
    killAll() {
      for (const r of live) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    },
    get size() {
      return live.size;
    },
  };
}
