import type { Logger } from 'pino';
import type { SiemEvent } from './siem-event.schema.ts';
import type { Sink } from './sink.ts';
import type { SyslogTcpSinkConfig, SyslogTlsSinkConfig, SyslogUdpSinkConfig } from './sink.config.ts';
import { createStreamTransport } from './syslog-stream.transport.ts';
import { createUdpTransport, type SyslogTransport } from './syslog-udp.transport.ts';
import { FACILITIES, sutureEventToSyslog } from './syslog.formatter.ts';

export interface SyslogSinkDeps {
  config: SyslogUdpSinkConfig | SyslogTcpSinkConfig | SyslogTlsSinkConfig;
  /** Device Version in CEF. */
  productVersion: string;
  /** HOSTNAME for events whose agent hostname is unknown: the server's own. */
  hostname?: string | undefined;
  /** PROCID: the server's pid. */
  procId?: string | undefined;
  logger: Logger;
}

function transportFor(c: SyslogSinkDeps['config']): SyslogTransport {
  if (c.type === 'syslog-udp') return createUdpTransport({ host: c.host, port: c.port, maxDatagramBytes: c.maxMessageBytes });
  return createStreamTransport({
    host: c.host,
    port: c.port,
    connectTimeoutMs: c.connectTimeoutMs,
    writeTimeoutMs: c.writeTimeoutMs,
    tls:
      c.type === 'syslog-tls'
        ? { ca: c.ca, servername: c.servername, cert: c.cert, key: c.key, insecureSkipVerify: c.insecureSkipVerify }
        : undefined,
  });
}

/** RFC 5424 + CEF over UDP (one message per datagram) or TCP/TLS (octet counting). */
export function createSyslogSink(deps: SyslogSinkDeps): Sink {
  const c = deps.config;
  const transport = transportFor(c);
  const format = (e: SiemEvent) => {
    const m = sutureEventToSyslog(e, {
      productVersion: deps.productVersion,
      facility: FACILITIES[c.facility as keyof typeof FACILITIES],
      enterpriseId: c.enterpriseId,
      fallbackHostname: deps.hostname,
      procId: deps.procId,
      maxBytes: c.maxMessageBytes,
    });
    if (m.truncatedFrom !== undefined) deps.logger.warn({ seq: e.seq, octets: m.truncatedFrom, cap: c.maxMessageBytes }, 'syslog message cut to the size cap');
    return m.bytes;
  };
  return {
    name: c.name,
    type: c.type,
    async deliver(events, signal) {
      await transport.send(events.map(format), signal);
    },
    close: () => transport.close(),
  };
}
