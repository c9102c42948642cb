import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { SyslogTransport } from './syslog-udp.transport.ts';

export interface StreamTlsOptions {
  /** PEM CA bundle that must have issued the receiver's certificate; the system roots when absent. */
  ca?: string | undefined;
  /** Name the receiver's certificate must carry (SNI too); defaults to `host`. */
  servername?: string | undefined;
  /** Client certificate and key (PEM) for receivers that require mutual TLS (RFC 5425 5.1). */
  cert?: string | undefined;
  key?: string | undefined;
  /** Accepts any certificate and name: the link is encrypted but anyone can pose as the receiver. */
  insecureSkipVerify?: boolean | undefined;
}

export interface StreamTransportOptions {
  host: string;
  port: number;
  /** TLS (RFC 5425) when present, plain TCP (RFC 6587) otherwise. */
  tls?: StreamTlsOptions | undefined;
  connectTimeoutMs?: number;
  /** How long one batch may take to reach the kernel; a stalled receiver fails the batch. */
  writeTimeoutMs?: number;
}

/** RFC 6587 3.4.1 / RFC 5425 4.3 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in octets. */
export function frameOctetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

export class TransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/**
 * Syslog over one long-lived TCP or TLS connection with octet-counting framing. The connection
 * is opened on first send, reused while it is healthy, and dropped on any error, timeout or
 * close by the peer, so the next send reconnects (the sink runner spaces those retries out).
 *
 * Syslog has no acknowledgements: a batch counts as sent once the kernel has it. Receivers never
 * talk back, so anything arriving (or an EOF) is read only to notice the peer has gone.
 */
export function createStreamTransport(opts: StreamTransportOptions): SyslogTransport {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const writeTimeoutMs = opts.writeTimeoutMs ?? 10_000;
  const what = `${opts.tls ? 'tls' : 'tcp'}://${opts.host}:${opts.port}`;
  let socket: Socket | undefined;

  function drop(s: Socket): void {
    if (socket === s) socket = undefined;
    s.destroy();
  }

  function open(signal: AbortSignal | undefined): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const t = opts.tls;
      const s: Socket | TLSSocket = t
        ? tlsConnect({
            host: opts.host,
            port: opts.port,
            // Node checks the certificate against servername, else host; SNI must not be an IP address.
            servername: t.servername ?? (isIP(opts.host) ? undefined : opts.host),
            ca: t.ca,
            cert: t.cert,
            key: t.key,
            rejectUnauthorized: t.insecureSkipVerify !== true,
            minVersion: 'TLSv1.2',
          })
        : netConnect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => fail(new TransportError(`connect to ${what} timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const onAbort = () => fail(new TransportError(`connect to ${what} stopped`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      function fail(err: Error): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        s.destroy();
        reject(err instanceof TransportError ? err : new TransportError(`connect to ${what} failed: ${err.message}`, { cause: err }));
      }
      s.once('error', fail);
      s.once(t ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        s.off('error', fail);
        s.on('error', () => drop(s)); // the next send sees no socket and reconnects
        s.on('end', () => drop(s));
        s.on('close', () => drop(s));
        s.on('data', () => {}); // drain: keeps 'end' observable
        s.setKeepAlive(true, 30_000);
        s.setNoDelay(true);
        resolve(s);
      });
    });
  }

  async function current(signal: AbortSignal | undefined): Promise<Socket> {
    // Let already-queued socket events ('end', 'close', 'error') run first, so a connection
    // the receiver closed since the last batch is not written into.
    await new Promise((r) => setImmediate(r));
    if (socket && !socket.destroyed && socket.writable) return socket;
    socket = await open(signal);
    return socket;
  }

  return {
    async send(messages, signal) {
      if (messages.length === 0) return;
      if (signal?.aborted) throw new TransportError(`send to ${what} stopped`);
      const s = await current(signal);
      const data = Buffer.concat(messages.map(frameOctetCounted));
      if (signal?.aborted) throw new TransportError(`send to ${what} stopped`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          drop(s);
          reject(new TransportError(`write to ${what} timed out after ${writeTimeoutMs} ms`));
        }, writeTimeoutMs);
        const onClose = () => {
          clearTimeout(timer);
          reject(new TransportError(`connection to ${what} closed during a write`));
        };
        const onAbort = () => drop(s); // stop(): the batch is re-sent after the next start
        s.once('close', onClose);
        signal?.addEventListener('abort', onAbort, { once: true });
        s.write(data, (err) => {
          clearTimeout(timer);
          s.off('close', onClose);
          signal?.removeEventListener('abort', onAbort);
          // Node calls back without an error for a write cut off by destroy() (peer reset, timeout,
          // abort): a destroyed socket means the batch may not have reached the kernel.
          if (err || s.destroyed) {
            drop(s);
            reject(new TransportError(`write to ${what} failed: ${err?.message ?? 'connection closed'}`, { cause: err }));
          } else resolve();
        });
      });
    },
    async close() {
      const s = socket;
      socket = undefined;
      if (!s || s.destroyed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (s.destroy(), resolve()), 2000);
        s.end(() => (clearTimeout(timer), resolve()));
      });
      s.destroy();
    },
  };
}
