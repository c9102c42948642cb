import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `pnpm install` (server/web/build.ts) puts the dashboard. */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * Everything the page may load comes from this origin; no inline script or style, no frames, no
 * plugins. The API is same-origin, so `connect-src 'self'` covers fetch and the event streams.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The dashboard's own paths (history-API routes); every other unknown path stays a JSON 404. */
const APP_PATHS = ['/', '/login', '/agents', '/agents/*', '/patches', '/patches/*', '/rollouts', '/audit', '/tokens', '/cves', '/cves/*'];

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Suture</title></head><body>
<h1>The dashboard is not built</h1><p>Run <code>pnpm install</code> (it builds the dashboard) or <code>pnpm --filter @suture/web build</code>, then restart the server. The API works without it.</p>
</body></html>`;

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
}

/** Loads the built files into memory: index.html and the content-hashed assets. */
async function loadDist(dir: string): Promise<{ index: Buffer; assets: Map<string, { body: Buffer; type: string }> } | null> {
  let index: Buffer;
  try {
    index = await readFile(join(dir, 'index.html'));
  } catch {
    return null;
  }
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const name of await readdir(join(dir, 'assets')).catch(() => [] as string[])) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { body: await readFile(join(dir, 'assets', name)), type });
  }
  return { index, assets };
}

/** Serves the dashboard (server/web) from memory at / and its paths, under a strict CSP. */
export const webPlugin = fp(async (app: FastifyInstance, opts: { dir?: string }) => {
  const dist = await loadDist(opts.dir ?? WEB_DIST);
  if (!dist) app.log.warn({ dir: opts.dir ?? WEB_DIST }, 'the dashboard is not built: run `pnpm install` or `pnpm --filter @suture/web build`; the API works without it');

  const page = async (_req: unknown, reply: FastifyReply) => {
    secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    if (!dist) return reply.status(503).send(NOT_BUILT);
    return reply.send(dist.index);
  };
  for (const url of APP_PATHS) app.get(url, { config: { public: true }, schema: { hide: true } }, page);

  app.get<{ Params: { file: string } }>('/assets/:file', { config: { public: true }, schema: { hide: true } }, async (req, reply) => {
    const asset = dist?.assets.get(req.params.file);
    if (!asset) return reply.callNotFound();
    // Names carry a content hash: a new build has new names, so these never go stale.
    return secure(reply).header('cache-control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body);
  });
});
