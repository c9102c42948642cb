/**
 * SIEM push delivery: CEF over RFC 5424 syslog (UDP, TCP, TLS) and signed JSON webhooks,
 * driven by a sink runner that follows the stored event log. See README.md.
 */
export { createSinkRunner, type SinkRunner, type SinkRunnerDeps, type SinkStatus } from './sink-runner.service.ts';
export {
  parseSinkConfigs,
  describeSink,
  SinkConfig,
  SinkConfigError,
  type SinkType,
  type SyslogUdpSinkConfig,
  type SyslogTcpSinkConfig,
  type SyslogTlsSinkConfig,
  type WebhookSinkConfig,
} from './sink.config.ts';
export { SIEM_EVENT_TYPES, WebhookBody, WebhookEvent, WEBHOOK_SCHEMA, toWebhookEvent, type SiemEvent, type SiemEventType, type PatchSeverity } from './siem-event.schema.ts';
export { sutureEventToCef, cefSeverity, CEF_TYPES, formatCef, escapeCefHeader, escapeCefExtension } from './cef.formatter.ts';
export { sutureEventToSyslog, formatSyslog, FACILITIES, DEFAULT_ENTERPRISE_ID } from './syslog.formatter.ts';
export { verifyWebhookSignature, signatureHeader, computeSignature, SIGNATURE_HEADER, type VerifyResult } from './webhook-signature.ts';
export { createSinkFromConfig, type SinkFactoryDeps } from './sink.factory.ts';
export { DeliveryError, type Sink } from './sink.ts';
export { createSyslogSink, type SyslogSinkDeps } from './syslog.sink.ts';
export { createWebhookSink, batchIdOf, type WebhookSinkDeps } from './webhook.sink.ts';
export { createStreamTransport, frameOctetCounted, TransportError, type StreamTransportOptions, type StreamTlsOptions } from './syslog-stream.transport.ts';
export { createUdpTransport, type SyslogTransport, type UdpTransportOptions } from './syslog-udp.transport.ts';
