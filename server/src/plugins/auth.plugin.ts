import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../lib/errors.ts';
import type { Permission, Principal } from '../lib/permissions.ts';
import { TOKEN_PREFIX } from '../services/token.service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** no authentication (health probes, login, API docs) */
    public?: boolean;
    /** what the caller needs; routes that say nothing need `admin` */
    permission?: Permission;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(h);
  return m?.[1] ?? null;
}

/**
 * Every route is authenticated and authorized unless it says `config.public`. The default
 * permission is the strongest one, so a route that forgets to declare one is admin-only.
 */
export const authPlugin = fp(async (app: FastifyInstance) => {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req) => {
    const url = req.routeOptions.url;
    if (url === undefined) return; // not found: the 404 handler answers
    if (req.routeOptions.config.public || url === '/docs' || url.startsWith('/docs/')) return;
    const token = bearer(req);
    if (!token) throw unauthorized();
    const principal = token.startsWith(TOKEN_PREFIX)
      ? await app.services.tokens.authenticate(token)
      : await app.services.sessions.authenticate(token);
    if (!principal) throw unauthorized('invalid or expired credentials: log in again or use a valid API token');
    const need = req.routeOptions.config.permission ?? 'admin';
    if (!principal.permissions.has(need)) throw forbidden(`this needs the "${need}" permission, which ${principal.username} does not have here`);
    req.principal = principal;
  });
});

/** For handlers of authenticated routes. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}
