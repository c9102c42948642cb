import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '@suture/server/config';
import { createDb } from '@suture/server/db';
import { createUserService } from '@suture/server/users';
import { apiClient, configPath, saveConfig } from '../lib/client.ts';
import { readPassword, writeOut } from '../lib/files.ts';
import { CliError, type Output } from '../lib/output.ts';

const ROLES = ['admin', 'operator', 'auditor'];
const SCOPES = ['read', 'publish', 'admin'];
const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerAccount(program: Command, run: (fn: (out: Output) => Promise<void>) => Promise<void>) {
  program
    .command('admin')
    .description('bootstrap the server')
    .command('create')
    .description("create the first admin directly in the server's database (DATABASE_URL or SUTURE_DATA_DIR); only while none exists")
    .requiredOption('--username <name>', 'admin username')
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { username: string; passwordStdin?: boolean }) =>
      run(async (out) => {
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const config = loadConfig();
        const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: pino({ level: 'warn' }, pino.destination(2)) }).catch((err: Error) => {
          throw new CliError(`cannot open the server database: ${err.message}`, 'db-unavailable');
        });
        try {
          const user = await createUserService({ db })
            .createFirstAdmin({ username: o.username, password })
            .catch((err: Error & { code?: string }) => {
              throw new CliError(err.message, err.code ?? 'refused');
            });
          out.result(user as unknown as Record<string, unknown>, `admin ${user.username} created; log in with "suture login --username ${user.username}"`);
        } finally {
          await db.close();
        }
      }),
    );

  program
    .command('login')
    .description('log in and keep a session token in the CLI config (0600)')
    .option('--server <url>', 'server URL (default: SUTURE_SERVER or the last one)')
    .requiredOption('--username <name>', 'username')
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { server?: string; username: string; passwordStdin?: boolean }) =>
      run(async (out) => {
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const api = await apiClient({ server: o.server, needToken: false });
        const r = await api.request<{ token: string; expiresAt: string; user: { role: string } }>({
          method: 'POST',
          path: '/api/v1/auth/login',
          body: { username: o.username, password },
        });
        await saveConfig({ server: api.server, token: r.token, expiresAt: r.expiresAt });
        out.result({ server: api.server, username: o.username, role: r.user.role, expiresAt: r.expiresAt, config: configPath() }, `logged in to ${api.server} as ${o.username} (${r.user.role}) until ${r.expiresAt}`);
      }),
    );

  program
    .command('user')
    .description('users (admin)')
    .command('create')
    .requiredOption('--username <name>', 'username')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { username: string; role: string; passwordStdin?: boolean }) =>
      run(async (out) => {
        if (!ROLES.includes(o.role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`, 'usage', 2);
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const api = await apiClient();
        const u = await api.request({ method: 'POST', path: '/api/v1/users', body: { username: o.username, password, role: o.role } });
        out.result(u, `created ${o.role} ${o.username}`);
      }),
    );

  const token = program.command('token').description('API tokens for machines (SIEM, CI)');
  token
    .command('create')
    .requiredOption('--name <name>', 'what it is for')
    .requiredOption('--scope <scope>', `${SCOPES.join(' | ')} (repeat)`, collect)
    .option('--expires <days>', 'days until it expires', (v) => Number(v))
    .action((o: { name: string; scope: string[]; expires?: number }) =>
      run(async (out) => {
        const bad = o.scope.find((s) => !SCOPES.includes(s));
        if (bad) throw new CliError(`unknown scope ${bad}; use ${SCOPES.join(', ')}`, 'usage', 2);
        const api = await apiClient();
        const t = await api.request<{ id: string; token: string }>({
          method: 'POST',
          path: '/api/v1/tokens',
          body: { name: o.name, scopes: o.scope, ...(o.expires ? { expiresInDays: o.expires } : {}) },
        });
        out.result(t, [`token ${t.id} (shown once, store it now):`, t.token]);
      }),
    );
  token.command('list').action(() =>
    run(async (out) => {
      const r = await (await apiClient()).request<{ items: { id: string; name: string; scopes: string[]; revokedAt: string | null }[] }>({ path: '/api/v1/tokens' });
      out.result(r, r.items.map((t) => `${t.id}\t${t.name}\t${t.scopes.join(',')}${t.revokedAt ? '\trevoked' : ''}`).join('\n') || 'no tokens');
    }),
  );
  token.command('revoke <id>').action((id: string) =>
    run(async (out) => {
      const r = await (await apiClient()).request({ method: 'DELETE', path: `/api/v1/tokens/${encodeURIComponent(id)}` });
      out.result(r, `revoked ${id}`);
    }),
  );

  program
    .command('server')
    .description('facts about the server')
    .command('online-key')
    .description("fetch the server's online (manifest) public key, to name in the root")
    .requiredOption('--out <file>', 'public key file to write')
    .action((o: { out: string }) =>
      run(async (out) => {
        const k = await (await apiClient()).request<{ keyid: string }>({ path: '/api/v1/keys/online' });
        await writeOut(o.out, `${JSON.stringify(k, null, 2)}\n`);
        out.result({ ...k, out: o.out }, `online key ${k.keyid} written to ${o.out}`);
      }),
    );
}
