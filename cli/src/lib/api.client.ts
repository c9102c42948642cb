import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writePrivate } from './files.util.ts';
import { CliError, usageError } from './output.util.ts';

/** Where `suture login` keeps the server URL and session token (mode 0600). */
export const configPath = () => process.env.SUTURE_CONFIG || join(homedir(), '.config', 'suture', 'config.json');

interface CliConfig {
  server?: string;
  token?: string;
  expiresAt?: string;
}

async function loadCliConfig(): Promise<CliConfig> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as CliConfig;
  } catch {
    return {};
  }
}

export async function saveCliConfig(c: CliConfig): Promise<void> {
  await mkdir(dirname(configPath()), { recursive: true, mode: 0o700 });
  await writePrivate({ path: configPath(), text: `${JSON.stringify(c, null, 2)}\n`, force: true });
}

export interface ApiClient {
  server: string;
  request<T = Record<string, unknown>>(opts: { method?: string; path: string; body?: unknown }): Promise<T>;
  requestBytes(opts: { path: string }): Promise<Buffer>;
}

/** SUTURE_SERVER / SUTURE_TOKEN override what `suture login` saved. */
export async function apiClient(opts: { server?: string; needToken?: boolean } = {}): Promise<ApiClient> {
  const saved = await loadCliConfig();
  const server = (opts.server ?? process.env.SUTURE_SERVER ?? saved.server)?.replace(/\/+$/, '');
  if (!server) throw usageError('no server: pass --server, set SUTURE_SERVER, or run "suture login --server URL"');
  const token = process.env.SUTURE_TOKEN || (saved.server?.replace(/\/+$/, '') === server ? saved.token : undefined);
  if (opts.needToken !== false && !token) throw new CliError('not logged in: run "suture login" or set SUTURE_TOKEN to an API token', { code: 'not-logged-in' });

  async function call(opts: { method: string; path: string; body?: unknown }): Promise<Response> {
    try {
      return await fetch(`${server}${opts.path}`, {
        method: opts.method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new CliError(`cannot reach ${server}: ${cause?.message ?? (err as Error).message}; is the server running?`, { code: 'unreachable' });
    }
  }

  async function fail(res: Response): Promise<never> {
    let e: { code?: string; message?: string; reason?: string } = {};
    try {
      e = ((await res.json()) as { error?: typeof e }).error ?? {};
    } catch {
      /* not our error shape */
    }
    const hint =
      res.status === 401 ? ' (log in again with "suture login")' : res.status === 403 ? ' (ask an admin for a role or token with that permission)' : '';
    throw new CliError(`server said ${res.status}: ${e.message ?? res.statusText}${hint}`, {
      code: e.code ?? `http-${res.status}`,
      extra: e.reason ? { reason: e.reason } : {},
    });
  }

  return {
    server,
    async request<T>({ method = 'GET', path, body }: { method?: string; path: string; body?: unknown }) {
      const res = await call({ method, path, body });
      if (!res.ok) return fail(res);
      return (await res.json()) as T;
    },
    async requestBytes({ path }) {
      const res = await call({ method: 'GET', path });
      if (!res.ok) return fail(res);
      return Buffer.from(await res.arrayBuffer());
    },
  };
}
