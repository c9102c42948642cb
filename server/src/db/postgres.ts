import pg from 'pg';
import type { DbLogger } from './migrate.ts';

/**
 * Prisma's own URL parameters, honoured here because adapter-pg ignores them:
 * `connection_limit` (pool size) and `connect_timeout` (seconds).
 */
export function prismaUrlParams(url: string): { connectionString: string; max?: number; connectTimeoutMs?: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL is not a valid URL (expected postgresql://user:password@host:5432/database)');
  }
  const limit = Number(parsed.searchParams.get('connection_limit') ?? NaN);
  const timeout = Number(parsed.searchParams.get('connect_timeout') ?? NaN);
  parsed.searchParams.delete('connection_limit');
  parsed.searchParams.delete('connect_timeout');
  return {
    connectionString: parsed.toString(),
    ...(limit > 0 ? { max: limit } : {}),
    ...(timeout > 0 ? { connectTimeoutMs: timeout * 1000 } : {}),
  };
}

/** Redacts the password of a connection URL for logs and error messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * The one pool behind Prisma, the migrations and the readiness ping. A short connection timeout
 * makes requests (and /readyz) fail in seconds, not minutes, while PostgreSQL is unreachable.
 */
export function createPgPool(opts: { url: string; logger: DbLogger; max?: number; connectTimeoutMs?: number }): pg.Pool {
  const fromUrl = prismaUrlParams(opts.url);
  const pool = new pg.Pool({
    connectionString: fromUrl.connectionString,
    max: opts.max ?? fromUrl.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? fromUrl.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'suture-server',
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it kills the process.
  pool.on('error', (err) => opts.logger.warn({ err }, 'idle PostgreSQL connection lost'));
  return pool;
}

/** Awaits `promise`, rejecting after `ms` (the work itself goes on, its outcome ignored). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  promise.catch(() => {}); // a late failure after the timeout must not become an unhandled rejection
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
