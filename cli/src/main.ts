import { Command, CommanderError } from 'commander';
import { registerAccount } from './commands/account.command.ts';
import { registerKeys } from './commands/keys.command.ts';
import { registerManifest } from './commands/manifest.command.ts';
import { registerPatch } from './commands/patch.command.ts';
import { registerRoot } from './commands/root.command.ts';
import { makeOutput, reportError, type Output } from './lib/output.ts';

/** `suture`: keys, roots, patch authoring and publishing, and server administration. */
const program = new Command('suture')
  .description('Suture micropatching: keys, root of trust, patches, server admin')
  .option('--json', 'machine-readable output: one JSON object on stdout')
  .showHelpAfterError()
  .exitOverride();

const json = () => Boolean(program.opts().json);
const run = async (fn: (out: Output) => Promise<void>) => {
  try {
    await fn(makeOutput(json()));
  } catch (err) {
    process.exitCode = reportError(err, json());
  }
};

registerKeys(program, run);
registerRoot(program, run);
registerPatch(program, run);
registerManifest(program, run);
registerAccount(program, run);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err, json());
  }
}
