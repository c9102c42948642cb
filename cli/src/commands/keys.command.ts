import { Option } from 'commander';
import type { CommandContext } from '../lib/context.util.ts';
import { KEY_ROLES, writeKeyPair, type KeyRole } from '../lib/key-file.util.ts';

/** `suture keys generate`: Ed25519 key pairs for the root, publisher and online roles. */
export function registerKeys(ctx: CommandContext): void {
  const keys = ctx.group('keys', 'Ed25519 signing keys');
  keys
    .command('generate')
    .description('generate a key pair: <out> is the secret key (mode 0600), <out>.pub the public key')
    .addOption(new Option('--role <role>', 'what the key will sign').choices(KEY_ROLES).makeOptionMandatory())
    .requiredOption('--out <path>', 'secret key file to create')
    .option('--force', 'overwrite existing files')
    .action((o: { role: KeyRole; out: string; force?: boolean }) =>
      ctx.run(async (out) => {
        const { keyid, publicPath } = await writeKeyPair({ path: o.out, role: o.role, force: o.force });
        out.result({ keyid, role: o.role, secretKeyFile: o.out, publicKeyFile: publicPath }, [
          keyid,
          `${o.role} key: secret ${o.out} (mode 0600; keep it offline), public ${publicPath}`,
        ]);
      }),
    );
}
