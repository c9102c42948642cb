import { apiClient, configPath, saveCliConfig } from '../lib/api.client.ts';
import { collect, positiveInt, type CommandContext } from '../lib/context.util.ts';
import { writeOut } from '../lib/files.util.ts';
import { CliError, usageError } from '../lib/output.util.ts';
import { readPassword } from '../lib/password.util.ts';

const ROLES = ['admin', 'operator', 'auditor'];
const SCOPES = ['read', 'publish', 'admin'];
/**
 * Server-facing account commands: bootstrap the first admin (directly in the database), log in,
 * users, API tokens, and the server's online key. Server modules load only when used.
 */
export function registerAccount(ctx: CommandContext): void {
  const { program } = ctx;
  ctx.group('admin', 'bootstrap the server')
    .command('create')
    .description("create the first admin directly in the server's database (DATABASE_URL or SUTURE_DATA_DIR); only while none exists")
    .requiredOption('--username <name>', 'admin username')
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { username: string; passwordStdin?: boolean }) =>
      ctx.run(async (out) => {
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const [{ default: pino }, { loadConfig }, { createDb }, { createUserService }] = await Promise.all([
          import('pino'),
          import('@suture/server/config'),
          import('@suture/server/db'),
          import('@suture/server/users'),
        ]);
        const config = loadConfig();
        const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: pino({ level: 'warn' }, pino.destination(2)) }).catch((err: Error) => {
          throw new CliError(`cannot open the server database (${err.message}); check DATABASE_URL or SUTURE_DATA_DIR`, { code: 'db-unavailable' });
        });
        try {
          const user = await createUserService({ db })
            .createFirstAdmin({ username: o.username, password })
            .catch((err: Error & { code?: string }) => {
              throw new CliError(err.message, { code: err.code ?? 'refused' });
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
      ctx.run(async (out) => {
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const api = await apiClient({ server: o.server, needToken: false });
        const r = await api.request<{ token: string; expiresAt: string; user: { role: string } }>({
          method: 'POST',
          path: '/api/v1/auth/login',
          body: { username: o.username, password },
        });
        await saveCliConfig({ server: api.server, token: r.token, expiresAt: r.expiresAt });
        out.result({ server: api.server, username: o.username, role: r.user.role, expiresAt: r.expiresAt, config: configPath() }, `logged in to ${api.server} as ${o.username} (${r.user.role}) until ${r.expiresAt}`);
      }),
    );

  ctx.group('user', 'users (admin)')
    .command('create')
    .requiredOption('--username <name>', 'username')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { username: string; role: string; passwordStdin?: boolean }) =>
      ctx.run(async (out) => {
        if (!ROLES.includes(o.role)) throw usageError(`--role must be one of ${ROLES.join(', ')}`);
        const password = await readPassword({ stdin: o.passwordStdin, prompt: `password for ${o.username}: ` });
        const api = await apiClient();
        const u = await api.request({ method: 'POST', path: '/api/v1/users', body: { username: o.username, password, role: o.role } });
        out.result(u, `created ${o.role} ${o.username}`);
      }),
    );

  const token = ctx.group('token', 'API tokens for machines (SIEM, CI)');
  token
    .command('create')
    .requiredOption('--name <name>', 'what it is for')
    .requiredOption('--scope <scope>', `${SCOPES.join(' | ')} (repeat)`, collect)
    .option('--expires <days>', 'days until it expires', positiveInt)
    .action((o: { name: string; scope: string[]; expires?: number }) =>
      ctx.run(async (out) => {
        const bad = o.scope.find((s) => !SCOPES.includes(s));
        if (bad) throw usageError(`unknown scope ${bad}; use ${SCOPES.join(', ')}`);
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
    ctx.run(async (out) => {
      const r = await (await apiClient()).request<{ items: { id: string; name: string; scopes: string[]; revokedAt: string | null }[] }>({ path: '/api/v1/tokens' });
      out.result(r, r.items.map((t) => `${t.id}\t${t.name}\t${t.scopes.join(',')}${t.revokedAt ? '\trevoked' : ''}`).join('\n') || 'no tokens');
    }),
  );
  token.command('revoke <id>').action((id: string) =>
    ctx.run(async (out) => {
      const r = await (await apiClient()).request({ method: 'DELETE', path: `/api/v1/tokens/${encodeURIComponent(id)}` });
      out.result(r, `revoked ${id}`);
    }),
  );

  ctx.group('server', 'facts about the server')
    .command('online-key')
    .description("fetch the server's online (manifest) public key, to name in the root")
    .requiredOption('--out <file>', 'public key file to write')
    .action((o: { out: string }) =>
      ctx.run(async (out) => {
        const k = await (await apiClient()).request<{ keyid: string }>({ path: '/api/v1/keys/online' });
        await writeOut({ path: o.out, text: `${JSON.stringify(k, null, 2)}\n` });
        out.result({ ...k, out: o.out }, `online key ${k.keyid} written to ${o.out}`);
      }),
    );
}
