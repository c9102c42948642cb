import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { FACILITIES } from './syslog.formatter.ts';

/**
 * What an operator configures per SIEM sink. Parsed once at start (parseSinkConfigs), failing
 * with every problem at once; there are no default secrets.
 */

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'unique; keys the cursor and the status' });
const Host = Type.String({ minLength: 1, maxLength: 253 });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Facility = Type.Union(Object.keys(FACILITIES).map((f) => Type.Literal(f)), { default: 'local0' });
const EnterpriseId = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', default: '32473', description: 'SD-ID suture@<this>' });
const Timeout = (d: number) => Type.Integer({ minimum: 100, maximum: 600_000, default: d });
const Pem = Type.String({ minLength: 1, maxLength: 1_000_000 });

const syslogCommon = { name: Name, host: Host, port: Port, facility: Facility, enterpriseId: EnterpriseId };

export const SyslogUdpSinkConfig = Type.Object(
  {
    type: Type.Literal('syslog-udp'),
    ...syslogCommon,
    /** Longer messages are cut (and say so); above the path MTU datagrams fragment. */
    maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 65_000, default: 2048 }),
  },
  { additionalProperties: false },
);

const streamCommon = {
  ...syslogCommon,
  maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 8192 }),
  connectTimeoutMs: Timeout(5000),
  writeTimeoutMs: Timeout(10_000),
};

export const SyslogTcpSinkConfig = Type.Object({ type: Type.Literal('syslog-tcp'), ...streamCommon }, { additionalProperties: false });

export const SyslogTlsSinkConfig = Type.Object(
  {
    type: Type.Literal('syslog-tls'),
    ...streamCommon,
    ca: Type.Optional(Pem),
    servername: Type.Optional(Host),
    cert: Type.Optional(Pem),
    key: Type.Optional(Pem),
    insecureSkipVerify: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const WebhookSinkConfig = Type.Object(
  {
    type: Type.Literal('webhook'),
    name: Name,
    url: Type.String({ minLength: 8, maxLength: 2048 }),
    secret: Type.String({ minLength: 32, maxLength: 512, description: 'HMAC key; never logged' }),
    /** http:// only with this set: the body is signed, not encrypted. */
    allowPlainHttp: Type.Boolean({ default: false }),
    timeoutMs: Timeout(10_000),
    /** Tries per batch within one delivery (the sink runner then backs off and tries again). */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
    retryBaseMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
    retryMaxMs: Type.Integer({ minimum: 10, maximum: 600_000, default: 30_000 }),
    /** A batch whose body would exceed this goes as several requests. */
    maxBodyBytes: Type.Integer({ minimum: 65_536, maximum: 16_777_216, default: 1_048_576 }),
  },
  { additionalProperties: false },
);

export const SinkConfig = Type.Union([SyslogUdpSinkConfig, SyslogTcpSinkConfig, SyslogTlsSinkConfig, WebhookSinkConfig]);
export type SyslogUdpSinkConfig = Static<typeof SyslogUdpSinkConfig>;
export type SyslogTcpSinkConfig = Static<typeof SyslogTcpSinkConfig>;
export type SyslogTlsSinkConfig = Static<typeof SyslogTlsSinkConfig>;
export type WebhookSinkConfig = Static<typeof WebhookSinkConfig>;
export type SinkConfig = Static<typeof SinkConfig>;
export type SinkType = SinkConfig['type'];

export class SinkConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkConfigError';
  }
}

const byType = {
  'syslog-udp': Compile(SyslogUdpSinkConfig),
  'syslog-tcp': Compile(SyslogTcpSinkConfig),
  'syslog-tls': Compile(SyslogTlsSinkConfig),
  webhook: Compile(WebhookSinkConfig),
} as const;

function problemsOf(raw: unknown, i: number): { value?: SinkConfig; problems: string[] } {
  const where = `sinks[${i}]`;
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !(type in byType)) return { problems: [`${where}.type: one of ${Object.keys(byType).join(', ')}`] };
  const compiled = byType[type as SinkType];
  const value = compiled.Default(structuredClone(raw));
  // Messages name the field and the rule, never the value: a secret must not end up in a log.
  if (!compiled.Check(value)) return { problems: [...compiled.Errors(value)].map((e) => `${where}${e.instancePath.replace(/\//g, '.')}: ${e.message}`) };
  const c = value as SinkConfig;
  const problems: string[] = [];
  if (c.type === 'webhook') {
    let url: URL | undefined;
    try {
      url = new URL(c.url);
    } catch {
      problems.push(`${where}.url: not a URL`);
    }
    if (url && url.protocol !== 'https:' && !(url.protocol === 'http:' && c.allowPlainHttp)) problems.push(`${where}.url: must be https:// (or http:// with allowPlainHttp)`);
    if (url && (url.username || url.password)) problems.push(`${where}.url: must not carry credentials; the HMAC secret authenticates`);
    if (c.retryMaxMs < c.retryBaseMs) problems.push(`${where}.retryMaxMs: must be >= retryBaseMs`);
  }
  if (c.type === 'syslog-tls' && (c.cert === undefined) !== (c.key === undefined)) problems.push(`${where}: cert and key go together`);
  return { value: c, problems };
}

/** Validates and fills defaults; throws SinkConfigError naming every problem. */
export function parseSinkConfigs(input: unknown): SinkConfig[] {
  if (!Array.isArray(input)) throw new SinkConfigError('SIEM sinks: expected an array of sink configurations');
  const out: SinkConfig[] = [];
  const problems: string[] = [];
  const names = new Set<string>();
  input.forEach((raw, i) => {
    const r = problemsOf(raw, i);
    problems.push(...r.problems);
    if (!r.value) return;
    if (names.has(r.value.name)) problems.push(`sinks[${i}].name: "${r.value.name}" is used twice`);
    names.add(r.value.name);
    out.push(r.value);
  });
  if (problems.length) throw new SinkConfigError(`invalid SIEM sink configuration: ${problems.join('; ')}`);
  return out;
}

/** What may be logged about a sink: where it delivers, never its secret, key or URL credentials/query. */
export function describeSink(c: SinkConfig): Record<string, string | number | boolean> {
  if (c.type === 'webhook') {
    const u = new URL(c.url);
    return { name: c.name, type: c.type, url: `${u.protocol}//${u.host}${u.pathname}` };
  }
  const d: Record<string, string | number | boolean> = { name: c.name, type: c.type, host: c.host, port: c.port };
  if (c.type === 'syslog-tls') {
    d.servername = c.servername ?? c.host;
    d.verify = !c.insecureSkipVerify;
    d.clientCert = c.cert !== undefined;
  }
  return d;
}
