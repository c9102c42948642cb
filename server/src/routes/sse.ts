import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const KEEPALIVE_MS = 15_000;

/** One open server-sent event stream, as the route's loop sees it. */
export interface SseStream {
  /** False once the client went away or the server is shutting down: the loop should return. */
  readonly open: boolean;
  send(event: string, data: unknown, id?: string): void;
  /** Waits `ms` (less if the stream ends meanwhile), then sends a keep-alive comment if nothing was sent for 15 s. */
  pause(ms: number): Promise<void>;
}

/**
 * Server-sent event streams for the routes of one plugin. Shutdown ends every open stream and
 * waits for it, and each response says `connection: close`, so the server's close finds no
 * connection to wait on (an ended keep-alive connection would hold it for the keep-alive timeout).
 */
export function sseStreams(app: FastifyInstance) {
  const streams = new Map<() => void, Promise<void>>();
  app.addHook('preClose', async () => {
    for (const end of streams.keys()) end();
    await Promise.all(streams.values());
  });

  /** Hijacks the reply and runs `loop` until it returns; a throw is logged (`failed.log`) and sent as `event: error` (`failed.message`). */
  return async function stream(req: FastifyRequest, reply: FastifyReply, failed: { log: string; message: string }, loop: (s: SseStream) => Promise<void>) {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'close', 'x-request-id': req.id, 'x-accel-buffering': 'no' });
    res.write(': following\n\n'); // sends the headers now
    const wake = new AbortController();
    const end = () => wake.abort();
    let ended!: () => void;
    streams.set(end, new Promise<void>((r) => (ended = r)));
    res.once('close', end); // the client went away (or the response ended)
    let wrote = Date.now();
    const s: SseStream = {
      get open() {
        return !wake.signal.aborted;
      },
      send(event, data, id) {
        res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        wrote = Date.now();
      },
      async pause(ms) {
        await sleep(ms, undefined, { signal: wake.signal }).catch(() => undefined);
        if (s.open && Date.now() - wrote > KEEPALIVE_MS) (res.write(': keep-alive\n\n'), (wrote = Date.now()));
      },
    };
    try {
      await loop(s);
    } catch (err) {
      req.log.warn({ err }, failed.log);
      if (s.open) s.send('error', { message: failed.message });
    } finally {
      res.end();
      streams.delete(end);
      ended();
    }
  };
}
