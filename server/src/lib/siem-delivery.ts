/** Pushes the event log to the configured SIEM sinks; rebuilt whenever an admin changes them. */
import type { Logger } from 'pino';
import { createSinkRunner, type SinkRunner, type SinkStatus } from '../siem/index.ts';
import type { SiemSinkService } from '../services/siem-sink.service.ts';

export function createSiemDelivery(opts: { sinks: SiemSinkService; logger: Logger; productVersion: string; enabled: boolean }) {
  let runner: SinkRunner | undefined;
  let chain: Promise<void> = Promise.resolve();
  const log = opts.logger;
  /** Stops the current runner (its cursors are saved as it goes) and starts one over the sinks now configured. */
  const reload = () =>
    (chain = chain.then(async () => {
      await runner?.stop();
      runner = undefined;
      if (!opts.enabled) return;
      const sinks = await opts.sinks.configs();
      if (sinks.length === 0) return;
      runner = createSinkRunner({
        sinks,
        fetchAfter: (c, n) => opts.sinks.fetchAfter(c, n),
        loadCursor: (s) => opts.sinks.loadCursor(s),
        saveCursor: (s, c) => opts.sinks.saveCursor(s, c),
        latestSeq: () => opts.sinks.latestSeq(),
        logger: log,
        productVersion: opts.productVersion,
      });
      runner.start();
      log.info({ sinks: sinks.length }, 'SIEM delivery started');
    }));
  return {
    start: () => reload().catch((err) => log.error({ err }, 'SIEM delivery could not start; fix the sinks (GET /api/v1/siem/sinks) and change one to retry')),
    reload,
    /** New events were stored: idle sinks look now rather than at their next poll. */
    notify: () => runner?.notify(),
    status: async (): Promise<SinkStatus[]> => (runner ? runner.status() : []),
    async stop(): Promise<void> {
      await chain.catch(() => {});
      await runner?.stop();
      runner = undefined;
    },
  };
}
export type SiemDelivery = ReturnType<typeof createSiemDelivery>;
