import { Command, CommanderError } from 'commander';
import { registerAccount } from './commands/account.command.ts';
import { registerKeys } from './commands/keys.command.ts';
import { registerManifest } from './commands/manifest.command.ts';
import { registerPatch } from './commands/patch.command.ts';
import { registerPublish } from './commands/publish.command.ts';
import { registerRoot } from './commands/root.command.ts';
import type { CommandContext, RegisterCommands } from './lib/context.util.ts';
import { makeOutput, reportError, usageError } from './lib/output.util.ts';

/** Every command file, in the order `suture --help` lists them. A new file slots in here. */
const COMMANDS: RegisterCommands[] = [registerKeys, registerRoot, registerPatch, registerPublish, registerManifest, registerAccount];

/** Builds the `suture` program and runs it on `argv`; returns the exit code (0, 1 failure, 2 usage). */
export async function runCli(opts: { argv: string[] }): Promise<number> {
  const program = new Command('suture')
    .description('Suture micropatching: keys, root of trust, patches, server admin')
    .option('--json', 'machine-readable output: one JSON object on stdout')
    .exitOverride()
    // Usage errors are printed once, by reportError, as one line (JSON with --json).
    .configureOutput({ outputError: () => {} });
  // Before parsing, --json may come anywhere on the line; commander has not seen it yet.
  const json = () => Boolean(program.opts().json) || opts.argv.slice(2).includes('--json');
  let exitCode = 0;
  const ctx: CommandContext = {
    program,
    group(name, description) {
      return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
    },
    async run(action) {
      try {
        await action(makeOutput(json()));
      } catch (err) {
        exitCode = reportError({ err, json: json() });
      }
    },
  };
  for (const register of COMMANDS) register(ctx);

  try {
    await program.parseAsync(opts.argv);
    return exitCode;
  } catch (err) {
    if (!(err instanceof CommanderError)) return reportError({ err, json: json() });
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (err.code === 'commander.help') {
      // A group without a subcommand: commander printed its help to stderr.
      return json() ? reportError({ err: usageError(`missing subcommand; see "${helpHint({ program, argv: opts.argv })} --help"`), json: true }) : 2;
    }
    const message = err.message.replace(/^error:\s*/i, '').replace(/\n+/g, ' ').trim().replace(/\.$/, '');
    return reportError({ err: usageError(`${message}; see "${helpHint({ program, argv: opts.argv })} --help"`), json: json() });
  }
}

/** `suture root create` for `suture root create --bad`: the deepest command the arguments name. */
function helpHint(opts: { program: Command; argv: string[] }): string {
  const names = ['suture'];
  let cmd = opts.program;
  for (const arg of opts.argv.slice(2)) {
    if (arg.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) continue;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}
