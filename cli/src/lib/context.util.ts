import { InvalidArgumentError, type Command } from 'commander';
import type { Output } from './output.util.ts';

/** What every command file gets from main.ts; a file registers its commands and nothing else. */
export interface CommandContext {
  program: Command;
  /** The top-level command group `name` (created on first use), so several files can add to `patch`, `root`, ... */
  group(name: string, description: string): Command;
  /** Runs an action with the output for --json or humans; turns thrown errors into messages and exit codes. */
  run(action: (out: Output) => Promise<void>): Promise<void>;
}

export type RegisterCommands = (ctx: CommandContext) => void;

/** Repeatable option: `--key a --key b`. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
