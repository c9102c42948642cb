import type { LoggerOptions } from 'pino';

/** Paths pino must never print. Secrets arrive in headers and in login / token bodies. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.secretKey',
  'password',
  'token',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: 'suture-server' },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
  };
}
