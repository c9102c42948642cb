/** The `suture` process: run the CLI on this process's arguments and exit with its code. */
import { runCli } from './program.ts';

process.exitCode = await runCli({ argv: process.argv });
