import type { Logger } from 'pino';
import type { Sink } from './sink.ts';
import type { SinkConfig } from './sink.config.ts';
import { createSyslogSink } from './syslog.sink.ts';
import { createWebhookSink } from './webhook.sink.ts';

export interface SinkFactoryDeps {
  productVersion: string;
  /** The server's host name: HOSTNAME of syslog messages about events with no agent hostname. */
  hostname?: string | undefined;
  /** The server's pid: PROCID of syslog messages. */
  procId?: string | undefined;
  logger: Logger;
}

export function createSinkFromConfig(config: SinkConfig, deps: SinkFactoryDeps): Sink {
  if (config.type === 'webhook') return createWebhookSink({ config, productVersion: deps.productVersion, logger: deps.logger });
  return createSyslogSink({ config, productVersion: deps.productVersion, hostname: deps.hostname, procId: deps.procId, logger: deps.logger });
}
