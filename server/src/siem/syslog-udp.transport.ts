import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface UdpTransportOptions {
  host: string;
  port: number;
  /** Largest datagram; callers cut messages to this (RFC 5426: receivers SHOULD take 2048). */
  maxDatagramBytes: number;
}

export interface SyslogTransport {
  /** Sends every message in order; resolves when each has been handed to the OS. An aborted signal cuts it short (rejects). */
  send(messages: Buffer[], signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * RFC 5426: one syslog message per datagram, nothing else in it. UDP says nothing about
 * arrival: "sent" means handed to the kernel. The socket is created once and reused; the host
 * name is resolved on first use and again after a send error.
 */
export function createUdpTransport(opts: UdpTransportOptions): SyslogTransport {
  let socket: Socket | undefined;
  let address: string | undefined;
  let lastError: Error | undefined;

  async function open(): Promise<{ socket: Socket; address: string }> {
    if (!socket || !address) {
      address = isIP(opts.host) ? opts.host : (await lookup(opts.host)).address;
      const s = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
      s.on('error', (err) => (lastError = err)); // before anything else: an unhandled 'error' would crash the process
      s.unref();
      socket = s;
    }
    return { socket, address };
  }

  function reset(): void {
    socket?.close();
    socket = undefined;
    address = undefined;
  }

  return {
    async send(messages, signal) {
      for (const m of messages) {
        if (m.length > opts.maxDatagramBytes) throw new RangeError(`syslog message of ${m.length} octets exceeds the ${opts.maxDatagramBytes}-octet datagram cap`);
      }
      const { socket: s, address: a } = await open();
      try {
        for (const m of messages) {
          if (signal?.aborted) throw new Error('syslog send stopped');
          await new Promise<void>((resolve, reject) => s.send(m, opts.port, a, (err) => (err ? reject(err) : resolve())));
        }
        if (lastError) throw lastError;
      } catch (err) {
        lastError = undefined;
        reset();
        throw err;
      }
    },
    async close() {
      if (socket) await new Promise<void>((resolve) => socket!.close(() => resolve()));
      socket = undefined;
    },
  };
}
