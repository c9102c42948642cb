/** An error the user can act on: a one-line message that says what to do next. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly extra: Record<string, unknown>;
  constructor(message: string, opts: { code?: string; exitCode?: number; extra?: Record<string, unknown> } = {}) {
    super(message);
    this.code = opts.code ?? 'error';
    this.exitCode = opts.exitCode ?? 1;
    this.extra = opts.extra ?? {};
  }
}

/** A usage error: exit code 2. */
export const usageError = (message: string) => new CliError(message, { code: 'usage', exitCode: 2 });

export interface Output {
  json: boolean;
  /** Prints the result: the object as one JSON line with --json, else the human lines. */
  result(obj: Record<string, unknown>, human: string | string[]): void;
  /** Notes for a person (stderr, so stdout stays machine-readable). */
  warn(line: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(obj, human) {
      if (json) process.stdout.write(`${JSON.stringify(obj)}\n`);
      else process.stdout.write(`${Array.isArray(human) ? human.join('\n') : human}\n`);
    },
    warn(line) {
      process.stderr.write(`suture: warning: ${line}\n`);
    },
  };
}

/**
 * Prints an error (stderr, one line; with --json also `{"error":{code,message}}` on stdout) and
 * returns the exit code. Anything that is not a CliError is a bug: say so, without internals.
 */
export function reportError(opts: { err: unknown; json: boolean }): number {
  const { err, json } = opts;
  const e =
    err instanceof CliError
      ? err
      : new CliError(`unexpected error: ${err instanceof Error ? err.message : String(err)}; rerun with SUTURE_DEBUG=1 and report it`, {
          code: 'internal',
        });
  if (process.env.SUTURE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  const message = e.message.replace(/\s*\n\s*/g, ' ');
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message, ...e.extra } })}\n`);
  process.stderr.write(`suture: ${message}\n`);
  return e.exitCode;
}
