import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Compile } from 'typebox/compile';
import { WebhookBody } from './siem-event.schema.ts';
import { verifyWebhookSignature } from './webhook-signature.ts';

/**
 * A webhook receiver as a SIEM team would write one: verify the signature over the raw body,
 * validate the JSON against the documented schema, process each Idempotency-Key once.
 */

/** What the receiver does with one request: a status (and headers), or a dropped connection. */
export type Step =
  | { pass: true }
  | { status: number; headers?: Record<string, string> }
  | { reset: true; afterProcessing?: boolean }
  | { hang: true };

export interface ReceivedRequest {
  at: number;
  key: string | undefined;
  attempt: string | undefined;
  raw: Buffer;
  signatureOk: boolean;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Each processed (accepted) batch, in order; a key seen before is answered 200 and not processed again. */
  processed: Map<string, WebhookBody>;
  /** Responses for the next requests, in order; when empty every request is accepted. */
  plan: Step[];
  /** While true every request is refused with 503 (the receiver is "down" but reachable). */
  down: boolean;
  waitForEvents(n: number, timeoutMs?: number): Promise<WebhookBody['events']>;
  close(): Promise<void>;
}

const checkBody = Compile(WebhookBody);

export async function startWebhookReceiver(opts: { secret: string; port?: number }): Promise<WebhookReceiver> {
  const hung: ServerResponse[] = [];
  const r = { url: '', requests: [], processed: new Map(), plan: [], down: false } as unknown as WebhookReceiver;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const signature = verifyWebhookSignature({ header: req.headers['suture-signature'], body: raw, secrets: opts.secret });
    const key = req.headers['idempotency-key'] as string | undefined;
    r.requests.push({ at: Date.now(), key, attempt: req.headers['suture-delivery-attempt'] as string | undefined, raw, signatureOk: signature.ok });
    const step = r.plan.shift();
    if (step && 'hang' in step) return void hung.push(res);
    if (step && 'reset' in step && !step.afterProcessing) return void req.socket.destroy();
    if (r.down) return void res.writeHead(503).end('down');
    if (step && 'status' in step) return void res.writeHead(step.status, step.headers).end(`planned ${step.status}`);
    if (!signature.ok) return void res.writeHead(401).end(signature.reason);
    const body: unknown = JSON.parse(raw.toString('utf8'));
    if (!checkBody.Check(body)) return void res.writeHead(400).end('body does not match the schema');
    if (body.batchId !== key) return void res.writeHead(400).end('Idempotency-Key differs from batchId');
    if (!r.processed.has(key)) r.processed.set(key, body);
    if (step && 'reset' in step) return void req.socket.destroy(); // processed, but the answer is lost
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => res.writeHead(500).end()));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/suture`;
  r.waitForEvents = async (n, timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const events = [...r.processed.values()].flatMap((b) => b.events);
      if (events.length >= n) return events;
      if (Date.now() > until) throw new Error(`receiver processed ${events.length} of ${n} events`);
      await delay(10);
    }
  };
  r.close = () =>
    new Promise<void>((resolve) => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}
