import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { backoffDelay, parseRetryAfter, sleep } from './backoff.ts';
import { toWebhookEvent, WEBHOOK_SCHEMA, type SiemEvent } from './siem-event.schema.ts';
import { DeliveryError, type Sink } from './sink.ts';
import type { WebhookSinkConfig } from './sink.config.ts';
import { signatureHeader } from './webhook-signature.ts';

export interface WebhookSinkDeps {
  config: WebhookSinkConfig;
  productVersion: string;
  logger: Logger;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  random?: () => number;
}

interface Request {
  batchId: string;
  body: string;
  done: boolean;
}

/** The same sink and seq range is the same batch: its id survives retries and a restart. */
export function batchIdOf(sink: string, events: readonly SiemEvent[]): string {
  const first = events[0]!.seq;
  const last = events[events.length - 1]!.seq;
  return createHash('sha256').update(`${sink}\n${first}\n${last}\n${events.length}`).digest('hex').slice(0, 32);
}

/** Splits a batch into request bodies no larger than maxBodyBytes (an event alone always goes). */
function buildRequests(sink: string, events: readonly SiemEvent[], maxBodyBytes: number): Request[] {
  const createdAt = new Date().toISOString();
  const parts = events.map((e) => JSON.stringify(toWebhookEvent(e)));
  const envelope = (batchId: string) => JSON.stringify({ schema: WEBHOOK_SCHEMA, batchId, sink, createdAt, events: [] });
  const overhead = Buffer.byteLength(envelope('0'.repeat(32)));
  const out: Request[] = [];
  let start = 0;
  while (start < parts.length) {
    let size = overhead + Buffer.byteLength(parts[start]!);
    let end = start + 1;
    while (end < parts.length && size + 1 + Buffer.byteLength(parts[end]!) <= maxBodyBytes) size += 1 + Buffer.byteLength(parts[end++]!);
    const batchId = batchIdOf(sink, events.slice(start, end));
    const body = `${envelope(batchId).slice(0, -2)}${parts.slice(start, end).join(',')}]}`;
    out.push({ batchId, body, done: false });
    start = end;
  }
  return out;
}

/** At most `max` bytes of the response, for an error message; the rest is never read. */
async function snippet(res: Response, max = 300): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } catch {
    // a body cut off mid-way still gives what arrived
  } finally {
    void reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8').replace(/[^\x20-\x7e]/g, ' ').trim();
}

const retryableStatus = (s: number) => s === 408 || s === 429 || s >= 500;

/**
 * Webhook delivery: POST application/json, signed (`Suture-Signature: t=..,v1=..` over
 * `t.body`), `Idempotency-Key: <batchId>`. Network errors, timeouts, 408, 429 and 5xx are
 * retried with exponential back-off and jitter (Retry-After honoured up to retryMaxMs); any
 * other status is final for this delivery. Redirects are not followed: the signed events go
 * only where configured.
 */
export function createWebhookSink(deps: WebhookSinkDeps): Sink {
  const c = deps.config;
  const doFetch = deps.fetch ?? fetch;
  const policy = { baseMs: c.retryBaseMs, maxMs: c.retryMaxMs };
  // The batch being delivered, kept across the runner's retries so a retry is byte-identical
  // and requests already accepted are not sent again. One batch: bounded.
  let pending: { key: string; requests: Request[] } | undefined;

  async function post(req: Request, signal: AbortSignal): Promise<void> {
    let last: DeliveryError | undefined;
    for (let attempt = 1; attempt <= c.maxAttempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const res = await doFetch(c.url, {
          method: 'POST',
          body: req.body,
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(c.timeoutMs)]),
          headers: {
            'content-type': 'application/json',
            'user-agent': `suture/${deps.productVersion}`,
            'idempotency-key': req.batchId,
            'suture-delivery-attempt': String(attempt),
            'suture-signature': signatureHeader({ secret: c.secret, timestamp: Math.floor(Date.now() / 1000), body: req.body }),
          },
        });
        if (res.status >= 200 && res.status < 300) {
          void res.body?.cancel().catch(() => {});
          return;
        }
        const text = await snippet(res);
        const message = `webhook answered ${res.status}${text ? `: ${text}` : ''}`;
        if (!retryableStatus(res.status)) throw new DeliveryError(message, { permanent: true, status: res.status });
        retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
        last = new DeliveryError(message, { status: res.status, retryAfterMs });
      } catch (err) {
        if (err instanceof DeliveryError) throw err;
        if (signal.aborted) throw new DeliveryError('webhook delivery stopped', { cause: err });
        const why = (err as Error).name === 'TimeoutError' ? `timed out after ${c.timeoutMs} ms` : ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
        last = new DeliveryError(`webhook request failed: ${why}`, { cause: err });
      }
      if (attempt === c.maxAttempts) break;
      // A pause longer than we retry within is the runner's to wait, not ours.
      if (retryAfterMs !== undefined && retryAfterMs > c.retryMaxMs) break;
      const delay = retryAfterMs ?? backoffDelay(policy, attempt, deps.random);
      deps.logger.debug({ batchId: req.batchId, attempt, delayMs: delay, err: last.message }, 'webhook delivery failed; retrying');
      await sleep(delay, signal);
      if (signal.aborted) throw new DeliveryError('webhook delivery stopped');
    }
    throw last ?? new DeliveryError('webhook delivery failed');
  }

  return {
    name: c.name,
    type: c.type,
    async deliver(events, signal) {
      if (events.length === 0) return;
      const key = batchIdOf(c.name, events);
      if (pending?.key !== key) pending = { key, requests: buildRequests(c.name, events, c.maxBodyBytes) };
      for (const req of pending.requests) {
        if (req.done) continue;
        await post(req, signal);
        req.done = true;
      }
      pending = undefined;
    },
    async close() {
      pending = undefined;
    },
  };
}
