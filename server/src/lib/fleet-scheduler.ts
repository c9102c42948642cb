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
  let running: Promise<void> | undefined;
  async function tick(): Promise<void> {
    const groups = new Set([...(await opts.desired.activateDue()), ...(await opts.rollouts.advance())]);
    if (groups.size) await opts.push([...groups]);
  }
  return {
    tick,
    start(): void {
      timer = setInterval(() => {
        if (running) return;
        running = tick()
          .catch((err) => opts.log.warn({ err }, 'scheduler pass failed; trying again at the next one'))
          .finally(() => (running = undefined));
      }, opts.everyMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
