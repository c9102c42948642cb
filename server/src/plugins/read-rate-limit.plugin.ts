import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.ts';

const WINDOW_MS = 60_000;

/**
 * Read rate limit: every GET under /api/v1 counts against its caller (a user's sessions share
 * one budget; each API token has its own), READ_RATE_LIMIT_PER_MINUTE per fixed one-minute
 * window, then 429 with Retry-After and the usual error body. Runs after authentication (the
 * auth hook is registered first), so unauthenticated requests are refused with 401 before
 * they count, and agents (which authenticate on their socket, not as a principal) never do.
 * Counts are per replica, like the login limit.
 */
export const readRateLimitPlugin = fp(async (app: FastifyInstance) => {
  const max = app.config.readRateLimitPerMinute;
  const windows = new Map<string, { start: number; count: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, w] of windows) if (now - w.start >= WINDOW_MS) windows.delete(k);
  }, WINDOW_MS);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    if (req.method !== 'GET' || !url?.startsWith('/api/v1/') || !req.principal) return;
    const p = req.principal;
    const key = p.via === 'token' && p.tokenId ? `token:${p.tokenId}` : `user:${p.userId}`;
    const now = Date.now();
    let w = windows.get(key);
    if (!w || now - w.start >= WINDOW_MS) windows.set(key, (w = { start: now, count: 0 }));
    w.count++;
    const resetS = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000));
    reply.header('x-ratelimit-limit', String(max));
    reply.header('x-ratelimit-remaining', String(Math.max(0, max - w.count)));
    reply.header('x-ratelimit-reset', String(resetS));
    if (w.count > max) {
      throw new AppError({
        status: 429,
        code: 'rate-limited',
        message: `more than ${max} read requests in a minute for ${p.via === 'token' ? 'this API token' : p.username}; retry in ${resetS} s`,
        headers: { 'retry-after': String(resetS) },
      });
    }
  });
});
