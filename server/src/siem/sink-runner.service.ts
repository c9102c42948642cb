import type { Logger } from 'pino';
import { backoffDelay, sleep, type BackoffPolicy } from './backoff.ts';
import type { SiemEvent } from './siem-event.schema.ts';
import { DeliveryError, type Sink } from './sink.ts';
import { describeSink, type SinkConfig, type SinkType } from './sink.config.ts';
import { createSinkFromConfig } from './sink.factory.ts';

export interface SinkRunnerDeps {
  /** Already validated (parseSinkConfigs). */
  sinks: SinkConfig[];
  /** Events with seq > cursor, ascending, at most `limit`. The cursor "0" means from the start. */
  fetchAfter(cursor: string, limit: number): Promise<SiemEvent[]>;
  /** The last seq this sink delivered, or null for a sink never run (it starts from the first event). */
  loadCursor(sink: string): Promise<string | null>;
  saveCursor(sink: string, cursor: string): Promise<void>;
  logger: Logger;
  productVersion: string;
  hostname?: string | undefined;
  /** The newest stored seq, for the lag in status(); lagEvents is null without it. */
  latestSeq?: () => Promise<string | null>;
  /** Events per batch and so the most any sink holds in memory. Default 100. */
  batchSize?: number;
  /** How often an idle sink looks for new events (notify() wakes it sooner). Default 1000. */
  pollIntervalMs?: number;
  /** Between failed deliveries of a batch; a permanent failure waits maxMs. Default 1 s to 60 s. */
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
  /** Builds a sink from its configuration; defaults to the syslog and webhook sinks. */
  createSink?: (config: SinkConfig, logger: Logger) => Sink;
}

export interface SinkStatus {
  name: string;
  type: SinkType;
  state: 'starting' | 'idle' | 'delivering' | 'backing-off' | 'stopped';
  /** The cursor: the last seq this sink delivered (null before its first delivery). */
  deliveredSeq: string | null;
  lastDeliveredAt: string | null;
  /** Events delivered since start() (re-deliveries included). */
  deliveredSinceStart: number;
  lastError: { message: string; at: string } | null;
  consecutiveFailures: number;
  nextAttemptAt: string | null;
  /** Age of the oldest event waiting for this sink (by receivedAt); 0 when caught up. */
  lagMs: number;
  /** latestSeq - deliveredSeq: an upper bound (seq values can have gaps); null when unknown. */
  lagEvents: number | null;
}

interface Worker {
  sink: Sink;
  log: Logger;
  status: SinkStatus;
  cursor: string;
  saved: string | undefined;
  batch: SiemEvent[] | undefined;
  wake: (() => void) | undefined;
  done: Promise<void> | undefined;
}

/**
 * Pushes stored events to every configured SIEM sink. Each sink has its own loop and cursor:
 * fetch the events after the cursor, deliver them as one batch, then save the cursor. A sink
 * that fails keeps that same batch and retries it with back-off; the others are not held up.
 *
 * Delivery is at-least-once and in seq order: the cursor moves only after a batch was
 * delivered, so a crash between delivery and saveCursor (or a retry after a partial delivery)
 * sends events again. Receivers de-duplicate on the event id (webhook: also the batch id).
 */
export function createSinkRunner(deps: SinkRunnerDeps) {
  const batchSize = Math.max(1, Math.min(deps.batchSize ?? 100, 1000));
  const pollIntervalMs = deps.pollIntervalMs ?? 1000;
  const policy: BackoffPolicy = { baseMs: deps.backoff?.baseMs ?? 1000, maxMs: deps.backoff?.maxMs ?? 60_000 };
  const log = deps.logger.child({ component: 'siem' });
  let workers: Worker[] = [];
  let stop: AbortController | undefined;

  function failed(w: Worker, err: unknown, what: string): number {
    const s = w.status;
    s.consecutiveFailures++;
    s.lastError = { message: `${what}: ${(err as Error).message}`, at: new Date().toISOString() };
    const d = err instanceof DeliveryError ? err : undefined;
    const delay = d?.retryAfterMs !== undefined ? Math.min(d.retryAfterMs, 10 * policy.maxMs) : d?.permanent ? policy.maxMs : backoffDelay(policy, s.consecutiveFailures, deps.random);
    s.state = 'backing-off';
    s.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    w.log.warn({ err: s.lastError.message, failures: s.consecutiveFailures, retryInMs: delay }, `SIEM sink ${what} failed`);
    return delay;
  }

  /** Idle wait: ends after the poll interval, on notify(), or on stop(). */
  async function idle(w: Worker, signal: AbortSignal): Promise<void> {
    const woken = new AbortController();
    const onStop = () => woken.abort();
    signal.addEventListener('abort', onStop, { once: true });
    w.wake = () => woken.abort();
    try {
      await sleep(pollIntervalMs, woken.signal);
    } finally {
      signal.removeEventListener('abort', onStop);
      w.wake = undefined;
    }
  }

  /** What fetchAfter returned, defended: only events after the cursor, ascending, at most a batch. */
  function ordered(events: SiemEvent[], cursor: string): SiemEvent[] {
    const after = BigInt(cursor);
    return events
      .filter((e) => BigInt(e.seq) > after)
      .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1))
      .slice(0, batchSize);
  }

  async function saveIfNeeded(w: Worker): Promise<void> {
    if (w.saved === w.cursor) return;
    try {
      await deps.saveCursor(w.sink.name, w.cursor);
      w.saved = w.cursor;
    } catch (err) {
      // Delivered already: keep going from the in-memory cursor and save again next round.
      // A restart before then re-delivers from the saved cursor (at-least-once).
      w.status.lastError = { message: `saveCursor: ${(err as Error).message}`, at: new Date().toISOString() };
      w.log.warn({ err: (err as Error).message }, 'SIEM cursor not saved; will retry');
    }
  }

  async function run(w: Worker, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const c = await deps.loadCursor(w.sink.name);
        w.cursor = c ?? '0';
        w.saved = c ?? undefined;
        w.status.deliveredSeq = c;
        break;
      } catch (err) {
        await sleep(failed(w, err, 'loadCursor'), signal);
      }
    }
    while (!signal.aborted) {
      await saveIfNeeded(w);
      if (!w.batch) {
        let batch: SiemEvent[];
        try {
          batch = ordered(await deps.fetchAfter(w.cursor, batchSize), w.cursor);
        } catch (err) {
          await sleep(failed(w, err, 'fetchAfter'), signal);
          continue;
        }
        if (batch.length === 0) {
          w.status.state = 'idle';
          w.status.lagMs = 0;
          await idle(w, signal);
          continue;
        }
        w.batch = batch;
      }
      const batch = w.batch;
      w.status.state = 'delivering';
      w.status.lagMs = Math.max(0, Date.now() - Date.parse(batch[0]!.receivedAt)) || 0;
      try {
        await w.sink.deliver(batch, signal);
      } catch (err) {
        if (signal.aborted) break;
        await sleep(failed(w, err, 'delivery'), signal);
        continue;
      }
      const s = w.status;
      if (s.consecutiveFailures > 0) w.log.info({ failures: s.consecutiveFailures }, 'SIEM sink delivering again');
      w.cursor = batch[batch.length - 1]!.seq;
      w.batch = undefined;
      s.deliveredSeq = w.cursor;
      s.lastDeliveredAt = new Date().toISOString();
      s.deliveredSinceStart += batch.length;
      s.consecutiveFailures = 0;
      s.nextAttemptAt = null;
      w.log.debug({ events: batch.length, cursor: w.cursor }, 'SIEM batch delivered');
    }
    await saveIfNeeded(w);
  }

  return {
    /** Builds every sink and starts its loop; returns at once (deliveries run in the background). */
    start(): void {
      if (stop) throw new Error('SIEM sink runner already started');
      stop = new AbortController();
      workers = deps.sinks.map((config) => {
        const wlog = log.child({ sink: config.name, sinkType: config.type });
        const sink = deps.createSink ? deps.createSink(config, wlog) : createSinkFromConfig(config, { productVersion: deps.productVersion, hostname: deps.hostname, procId: String(process.pid), logger: wlog });
        wlog.info(describeSink(config), 'SIEM sink configured');
        return {
          sink,
          log: wlog,
          cursor: '0',
          saved: undefined,
          batch: undefined,
          wake: undefined,
          done: undefined,
          status: {
            name: config.name, type: config.type, state: 'starting', deliveredSeq: null, lastDeliveredAt: null, deliveredSinceStart: 0,
            lastError: null, consecutiveFailures: 0, nextAttemptAt: null, lagMs: 0, lagEvents: null,
          },
        };
      });
      const signal = stop.signal;
      for (const w of workers) w.done = run(w, signal).catch((err) => w.log.error({ err }, 'SIEM sink loop ended unexpectedly'));
    },

    /** Ends every loop (a delivery in flight is cut off and will be re-sent), saves cursors, closes connections. */
    async stop(): Promise<void> {
      if (!stop) return;
      stop.abort();
      for (const w of workers) w.wake?.();
      await Promise.all(workers.map((w) => w.done));
      await Promise.all(workers.map((w) => w.sink.close().catch((err) => w.log.warn({ err: (err as Error).message }, 'SIEM sink close failed'))));
      for (const w of workers) w.status.state = 'stopped';
      stop = undefined;
    },

    /** New events were stored: idle sinks look now instead of at their next poll. */
    notify(): void {
      for (const w of workers) w.wake?.();
    },

    async status(): Promise<SinkStatus[]> {
      let latest: bigint | undefined;
      try {
        const l = await deps.latestSeq?.();
        if (l !== null && l !== undefined) latest = BigInt(l);
      } catch {
        latest = undefined; // status must not fail because the database is down
      }
      return workers.map((w) => ({
        ...w.status,
        lagEvents: latest === undefined ? null : Math.max(0, Number(latest - BigInt(w.cursor))),
      }));
    },
  };
}
export type SinkRunner = ReturnType<typeof createSinkRunner>;
