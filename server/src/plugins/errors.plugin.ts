import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.ts';

/** Substrings of driver errors that mean "the database is not reachable", not "a bug". */
const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|Connection terminated|timeout exceeded when trying to connect|DatabaseNotReachable|Can't reach database|the database system is (starting up|shutting down)|terminating connection/i;

function isDbUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; message?: unknown; kind?: unknown };
    if (typeof x.code === 'string' && ['P1001', 'P1002', 'P1017', 'P2024', 'ECONNREFUSED', '57P01', '57P03'].includes(x.code)) return true;
    if (typeof x.kind === 'string' && /DatabaseNotReachable|ConnectionClosed/.test(x.kind)) return true;
    if (typeof x.message === 'string' && UNREACHABLE.test(x.message)) return true;
  }
  return false;
}

function send(reply: FastifyReply, req: FastifyRequest, status: number, body: Record<string, unknown>) {
  return reply.status(status).send({ error: { ...body, requestId: req.id } });
}

/** One error shape for every failure; 5xx responses never carry internals. */
export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      if (err.headers) reply.headers(err.headers);
      if (err.status >= 500) req.log.warn({ code: err.code }, err.message);
      return send(reply, req, err.status, {
        code: err.code,
        message: err.message,
        ...(err.reason ? { reason: err.reason } : {}),
        ...(err.details !== undefined ? { details: err.details } : {}),
      });
    }
    const fe = err as FastifyError & { validation?: { instancePath: string; message?: string }[] };
    if (fe.validation) {
      return send(reply, req, 400, {
        code: 'validation',
        message: fe.message,
        details: fe.validation.map((v) => ({ path: v.instancePath, message: v.message })),
      });
    }
    if ((err as { code?: string }).code === 'P2002') {
      return send(reply, req, 409, { code: 'conflict', message: 'a concurrent change created the same record; retry' });
    }
    if (isDbUnavailable(err)) {
      req.log.warn({ err: { message: err.message } }, 'database unavailable');
      reply.header('retry-after', '5');
      return send(reply, req, 503, { code: 'database-unavailable', message: 'the database is unavailable; retry later' });
    }
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
    if (status >= 400 && status < 500) {
      return send(reply, req, status, { code: (fe.code ?? 'bad-request').toLowerCase(), message: fe.message });
    }
    req.log.error({ err }, 'unhandled error');
    return send(reply, req, 500, { code: 'internal', message: 'internal server error; the request id identifies it in the server log' });
  });

  app.setNotFoundHandler((req, reply) =>
    send(reply, req, 404, { code: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );
});
