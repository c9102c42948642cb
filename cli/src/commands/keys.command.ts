import type { Command } from 'commander';
import { generateKeyPair } from '@suture/shared/trust';
import { writeOut, writePrivate } from '../lib/files.ts';
import { CliError, type Output } from '../lib/output.ts';

export function registerKeys(program: Command, run: (fn: (out: Output) => Promise<void>) => Promise<void>) {
  const keys = program.command('keys').description('Ed25519 signing keys');
  keys
    .command('generate')
    .description('generate a key pair: <out> is the secret key (0600), <out>.pub the public key')
    .requiredOption('--role <role>', 'root | publisher | online')
    .requiredOption('--out <path>', 'secret key file to create')
    .option('--force', 'overwrite an existing file')
    .action((o: { role: string; out: string; force?: boolean }) =>
      run(async (out) => {
        if (!['root', 'publisher', 'online'].includes(o.role)) throw new CliError(`--role must be root, publisher or online, not ${o.role}`, 'usage', 2);
        const kp = generateKeyPair();
        const pub = { keytype: 'ed25519', role: o.role, keyid: kp.keyid, public: kp.publicKey };
        await writePrivate(o.out, `${JSON.stringify({ ...pub, secret: kp.secretKey }, null, 2)}\n`, o.force);
        await writeOut(`${o.out}.pub`, `${JSON.stringify(pub, null, 2)}\n`);
        out.result({ keyid: kp.keyid, role: o.role, secretKeyFile: o.out, publicKeyFile: `${o.out}.pub` }, [
          `${o.role} key ${kp.keyid}`,
          `  secret: ${o.out} (mode 0600; keep it offline)`,
          `  public: ${o.out}.pub`,
        ]);
      }),
    );
}
