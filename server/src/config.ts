import { resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';

/**
 * The server's one configuration schema, read from the environment once at start. There are
 * no default secrets: the JWT secret and the online signing key come from the environment or
 * are generated into the data directory (mode 0600) on first start.
 */
const EnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  SUTURE_DATA_DIR: Type.String({ default: '.data' }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
  /** Agent JWTs are renewed over the socket; short so a revoked agent's token dies soon. */
  AGENT_JWT_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 600 }),
  /** Agent sockets one replica holds; beyond it agents are told 503 + Retry-After (load shedding). */
  MAX_AGENT_SOCKETS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20_000 }),
  /**
   * Agent connections one replica sets up at once (from the upgrade until the agent is welcomed
   * and reconciled); beyond it agents are told 503 + a jittered Retry-After, so a reconnect storm
   * becomes orderly retries instead of upgrades that wait until they time out.
   */
  MAX_AGENT_CONNECTS: Type.Integer({ minimum: 1, maximum: 100_000, default: 500 }),
  /** An agent that has not said hello this long after its upgrade is disconnected (it holds a connect slot). */
  AGENT_HELLO_SECONDS: Type.Integer({ minimum: 1, maximum: 600, default: 10 }),
  /**
   * An agent upgrade that reaches the server this long after its TCP connection was accepted
   * (queued behind others while the server was busy) is shed with 503 + Retry-After instead of
   * being set up: the agent would otherwise give up on it (its handshake timeout is 15 s) and
   * come back as more load.
   */
  AGENT_UPGRADE_QUEUE_SECONDS: Type.Integer({ minimum: 1, maximum: 60, default: 5 }),
  /** How often each replica re-sends what a lost notification missed (changes reach agents at once through LISTEN/NOTIFY). */
  AGENT_SWEEP_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 30 }),
  ONLINE_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MANIFEST_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 7 * 86_400, default: 3600 }),
  LOGIN_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 10_000, default: 10 }),
  /** GET requests under /api/v1 per minute for each user or API token (429 + Retry-After beyond it) */
  READ_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 600 }),
  /** how often fleet coverage is sampled for GET /api/v1/coverage/history (one sample per period across replicas) */
  COVERAGE_SAMPLE_SECONDS: Type.Integer({ minimum: 10, maximum: 86_400, default: 300 }),
  TRUST_PROXY: Type.Boolean({ default: false }),
  /** push events to the configured SIEM sinks from this replica (with several replicas, turn it on in one) */
  SIEM_DELIVERY: Type.Boolean({ default: true }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
});
type Env = Static<typeof EnvSchema>;

export interface Config {
  host: string;
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  jwtSecret: string | undefined;
  jwtTtlSeconds: number;
  agentJwtTtlSeconds: number;
  maxAgentSockets: number;
  maxAgentConnects: number;
  agentHelloSeconds: number;
  agentUpgradeQueueSeconds: number;
  agentSweepSeconds: number;
  onlineKeyFile: string;
  manifestTtlSeconds: number;
  loginRateLimitPerMinute: number;
  readRateLimitPerMinute: number;
  coverageSampleSeconds: number;
  trustProxy: boolean;
  siemDelivery: boolean;
  logLevel: string;
}

export class ConfigError extends Error {}

const compiled = Compile(EnvSchema);
const numeric = new Set(['PORT', 'JWT_TTL_SECONDS', 'AGENT_JWT_TTL_SECONDS', 'MAX_AGENT_SOCKETS', 'MAX_AGENT_CONNECTS', 'AGENT_HELLO_SECONDS', 'AGENT_UPGRADE_QUEUE_SECONDS', 'AGENT_SWEEP_SECONDS', 'MANIFEST_TTL_SECONDS', 'LOGIN_RATE_LIMIT_PER_MINUTE', 'READ_RATE_LIMIT_PER_MINUTE', 'COVERAGE_SAMPLE_SECONDS']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = env[key];
    if (v === undefined || v === '') continue;
    if (numeric.has(key)) raw[key] = /^\d+$/.test(v) ? Number(v) : v;
    else if (key === 'TRUST_PROXY' || key === 'SIEM_DELIVERY') raw[key] = v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v;
    else raw[key] = v;
  }
  const withDefaults = compiled.Default(raw) as Record<string, unknown>;
  if (!compiled.Check(withDefaults)) {
    const problems = [...compiled.Errors(withDefaults)].map((e) => `${e.instancePath.slice(1) || 'env'}: ${e.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = withDefaults as Env;
  const dataDir = resolve(e.SUTURE_DATA_DIR);
  return {
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    jwtSecret: e.JWT_SECRET,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    agentJwtTtlSeconds: e.AGENT_JWT_TTL_SECONDS,
    maxAgentSockets: e.MAX_AGENT_SOCKETS,
    maxAgentConnects: e.MAX_AGENT_CONNECTS,
    agentHelloSeconds: e.AGENT_HELLO_SECONDS,
    agentUpgradeQueueSeconds: e.AGENT_UPGRADE_QUEUE_SECONDS,
    agentSweepSeconds: e.AGENT_SWEEP_SECONDS,
    onlineKeyFile: resolve(e.ONLINE_KEY_FILE ?? `${dataDir}/online-key.json`),
    manifestTtlSeconds: e.MANIFEST_TTL_SECONDS,
    loginRateLimitPerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE,
    readRateLimitPerMinute: e.READ_RATE_LIMIT_PER_MINUTE,
    coverageSampleSeconds: e.COVERAGE_SAMPLE_SECONDS,
    trustProxy: e.TRUST_PROXY,
    siemDelivery: e.SIEM_DELIVERY,
    logLevel: e.LOG_LEVEL,
  };
}
