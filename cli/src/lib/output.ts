/** An error the user can act on: a one-line message that says what to do next. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 'error',
    readonly exitCode = 1,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Output {
  json: boolean;
  /** Prints the result: the object as JSON with --json, else the human lines. */
  result(obj: Record<string, unknown>, human: string | string[]): void;
  progress(line: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(obj, human) {
      if (json) process.stdout.write(`${JSON.stringify(obj)}\n`);
      else process.stdout.write(`${Array.isArray(human) ? human.join('\n') : human}\n`);
    },
    progress(line) {
      if (!json) process.stderr.write(`${line}\n`);
    },
  };
}

export function reportError(err: unknown, json: boolean): number {
  const e =
    err instanceof CliError
      ? err
      : new CliError(`unexpected error: ${err instanceof Error ? err.message : String(err)}; rerun with SUTURE_DEBUG=1 for details`, 'internal');
  if (process.env.SUTURE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...e.extra } })}\n`);
  process.stderr.write(`suture: ${e.message}\n`);
  return e.exitCode;
}
