import type { SiemEvent } from './siem-event.schema.ts';
import type { SinkType } from './sink.config.ts';

/** One configured destination. The sink runner calls deliver() with one batch at a time. */
export interface Sink {
  readonly name: string;
  readonly type: SinkType;
  /**
   * Delivers every event (ascending seq) or throws. Throwing after part of a batch went out is
   * allowed: the runner delivers the same batch again (at-least-once).
   */
  deliver(events: readonly SiemEvent[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** A failed delivery, with what the runner needs to pace the next try. */
export class DeliveryError extends Error {
  /** The receiver asked for this pause (Retry-After). */
  readonly retryAfterMs: number | undefined;
  /** Retrying the same request will not help (e.g. a 4xx): the runner waits its longest back-off. */
  readonly permanent: boolean;
  readonly status: number | undefined;

  constructor(message: string, opts: { retryAfterMs?: number | undefined; permanent?: boolean; status?: number | undefined; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'DeliveryError';
    this.retryAfterMs = opts.retryAfterMs;
    this.permanent = opts.permanent ?? false;
    this.status = opts.status;
  }
}
