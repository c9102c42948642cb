/** Records fleet coverage every COVERAGE_SAMPLE_SECONDS for GET /api/v1/coverage/history. */
import type { Logger } from 'pino';
import type { CoverageService } from '../services/coverage.service.ts';

/** The start of the sampling period that `now` falls in: every replica computes the same one. */
export const bucketOf = (now: number, periodMs: number) => new Date(Math.floor(now / periodMs) * periodMs);

/**
 * One sample per period, stamped with the period's start. Every replica runs it: the insert
 * does nothing when the period already has a sample (whoever wrote it), so several replicas
 * give one sample, and a restart within a period does not add a second. Looks once at start
 * (so a new server has a point to show) and then a few times per period, which also covers a
 * tick lost to a database hiccup. Never overlaps itself.
 */
export function createCoverageSampler(opts: { coverage: CoverageService; periodSeconds: number; log: Logger }) {
  const periodMs = opts.periodSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const pass = async () => {
    const bucket = bucketOf(Date.now(), periodMs);
    const rows = await opts.coverage.sample(bucket);
    if (rows > 0) opts.log.debug({ at: bucket.toISOString(), patches: rows }, 'coverage sampled');
  };
  const tick = () => {
    if (running) return running;
    running = pass()
      .catch((err) => opts.log.warn({ err }, 'coverage sample failed; trying again soon'))
      .finally(() => (running = undefined));
    return running;
  };
  return {
    tick,
    start(): void {
      void tick();
      timer = setInterval(() => void tick(), Math.max(5_000, Math.floor(periodMs / 4)));
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
export type CoverageSampler = ReturnType<typeof createCoverageSampler>;
