import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditInput } from '../services/audit.service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: a POST that only reads (e.g. a batch lookup) is not an action to audit */
    audit?: false;
  }
  interface FastifyRequest {
    /** Records what this request changed (stored once the response is a success). */
    audit(entry: AuditInput): void;
    auditEntries: AuditInput[] | null;
  }
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Every successful change made by a person or their API token is audited. Routes describe
 * their change (`req.audit({ action, target, before, after })`); a change a route did not
 * describe is still recorded, as its method, route, parameters and (redacted) body. The entry
 * is written before the response leaves, so a change is never reported done without its entry.
 */
export const auditPlugin = fp(async (app: FastifyInstance) => {
  app.decorateRequest('auditEntries', null);
  app.decorateRequest('audit', function (this: FastifyRequest, entry: AuditInput) {
    (this.auditEntries ??= []).push(entry);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.principal || !CHANGES.has(req.method) || reply.statusCode >= 400 || req.routeOptions.config.audit === false) return payload;
    const entries = req.auditEntries ?? [{ action: `${req.method} ${req.routeOptions.url}`, targetType: 'route', targetId: req.url.split('?')[0]!.slice(0, 500), after: { params: req.params, body: req.body } }];
    await app.services.audit.record({ actor: req.principal, entries, requestId: req.id, ip: req.ip });
    return payload;
  });
});
