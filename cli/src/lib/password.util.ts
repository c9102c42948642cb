import { CliError, usageError } from './output.util.ts';

/** A password from the terminal (not echoed) or, with --password-stdin, the first line of stdin. */
export async function readPassword(opts: { stdin?: boolean; prompt: string }): Promise<string> {
  if (opts.stdin || !process.stdin.isTTY) {
    if (!opts.stdin) throw usageError('no terminal to ask for the password: pass --password-stdin and pipe it in');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (!line) throw usageError('no password on standard input; pipe it in with --password-stdin');
    return line;
  }
  process.stderr.write(opts.prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  let pw = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(pw);
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          stdin.pause();
          return reject(new CliError('cancelled', { code: 'cancelled', exitCode: 130 }));
        }
        pw = ch === '\u007f' ? pw.slice(0, -1) : pw + ch;
      }
    };
    stdin.on('data', onData);
  });
}
