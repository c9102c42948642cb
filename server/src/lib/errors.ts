/**
 * Services throw these; one error handler turns them into one response shape:
 * `{ error: { code, message, reason?, details?, requestId } }`.
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly reason: string | undefined;
  readonly details: unknown;
  readonly headers: Record<string, string> | undefined;

  constructor(opts: {
    status: number;
    code: string;
    message: string;
    reason?: string;
    details?: unknown;
    headers?: Record<string, string>;
  }) {
    super(opts.message);
    this.status = opts.status;
    this.code = opts.code;
    this.reason = opts.reason;
    this.details = opts.details;
    this.headers = opts.headers;
  }
}

export const badRequest = (message: string, code = 'bad-request') => new AppError({ status: 400, code, message });
export const unauthorized = (message = 'authentication required: log in or send an API token as "Authorization: Bearer <token>"') =>
  new AppError({ status: 401, code: 'unauthorized', message, headers: { 'www-authenticate': 'Bearer' } });
export const forbidden = (message: string) => new AppError({ status: 403, code: 'forbidden', message });
export const notFound = (message: string) => new AppError({ status: 404, code: 'not-found', message });
export const conflict = (message: string, code = 'conflict') => new AppError({ status: 409, code, message });
export const refused = (opts: { code: string; reason: string; message: string }) =>
  new AppError({ status: 422, ...opts });
export const unavailable = (message: string, code = 'unavailable', retryAfterSeconds = 5) =>
  new AppError({ status: 503, code, message, headers: { 'retry-after': String(retryAfterSeconds) } });
