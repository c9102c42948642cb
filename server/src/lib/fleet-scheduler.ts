/** The server's clockwork: delayed enablements that fall due, and rollouts moving stage by stage. */
import type { Logger } from 'pino';
import type { DesiredService } from '../services/desired.service.ts';
import type { RolloutService } from '../services/rollout.service.ts';

/**
 * Every `everyMs`: activates delayed enablements that are due and advances rollouts, then hands
 * the groups whose desired state moved to `push` (agents connected here get it at once; the
 * sweep and other replicas' notifications cover the rest). Never overlaps itself; safe on every
 * replica at once (each transition is a conditional update).
 */
export function createFleetScheduler(opts: { desired: DesiredService; rollouts: RolloutService; push: (groups: string[]) => Promise<void>; everyMs: number; log: Logger }) {
  let timer: NodeJS.Timeout | undefined;
  let queued = false;
  // One pass at a time, whoever asks (the timer, or a route that wants a rollout due now to start now).
  let chain: Promise<void> = Promise.resolve();
  async function pass(): Promise<void> {
    const groups = new Set([...(await opts.desired.activateDue()), ...(await opts.rollouts.advance())]);
    if (groups.size) await opts.push([...groups]);
  }
  function tick(): Promise<void> {
    const run = chain.then(pass);
    chain = run.catch(() => undefined);
    return run;
  }
  return {
    tick,
    start(): void {
      timer = setInterval(() => {
        if (queued) return;
        queued = true;
        tick()
          .catch((err) => opts.log.warn({ err }, 'scheduler pass failed; trying again at the next one'))
          .finally(() => (queued = false));
      }, opts.everyMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await chain;
    },
  };
}
