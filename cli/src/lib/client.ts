import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './output.ts';
import { writePrivate } from './files.ts';

/** Where `suture login` keeps the server URL and session token (mode 0600). */
export const configPath = () => process.env.SUTURE_CONFIG || join(homedir(), '.config', 'suture', 'config.json');

interface CliConfig {
  server?: string;
  token?: string;
  expiresAt?: string;
}

async function loadConfig(): Promise<CliConfig> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as CliConfig;
  } catch {
    return {};
  }
}

export async function saveConfig(c: CliConfig): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dirname(configPath()), { recursive: true, mode: 0o700 });
  await writePrivate(configPath(), `${JSON.stringify(c, null, 2)}\n`, true);
}

export interface ApiClient {
  server: string;
  request<T = Record<string, unknown>>(opts: { method?: string; path: string; body?: unknown; raw?: boolean }): Promise<T>;
  requestBytes(path: string): Promise<Buffer>;
}

/** SUTURE_SERVER / SUTURE_TOKEN override what `suture login` saved. */
export async function apiClient(opts: { server?: string; needToken?: boolean } = {}): Promise<ApiClient> {
  const saved = await loadConfig();
  const server = (opts.server ?? process.env.SUTURE_SERVER ?? saved.server)?.replace(/\/+$/, '');
  if (!server) throw new CliError('no server: pass --server, set SUTURE_SERVER, or run "suture login --server URL"', 'no-server', 2);
  const token = process.env.SUTURE_TOKEN || (saved.server?.replace(/\/+$/, '') === server ? saved.token : undefined);
  if (opts.needToken !== false && !token) throw new CliError('not logged in: run "suture login" or set SUTURE_TOKEN to an API token', 'not-logged-in');

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${server}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CliError(`cannot reach ${server}: ${(err as Error).cause ? String((err as { cause: Error }).cause.message) : (err as Error).message}; is the server running?`, 'unreachable');
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
    throw new CliError(`server said ${res.status}: ${e.message ?? res.statusText}${hint}`, e.code ?? `http-${res.status}`, 1, e.reason ? { reason: e.reason } : {});
  }

  return {
    server,
    async request<T>({ method = 'GET', path, body }: { method?: string; path: string; body?: unknown }) {
      const res = await call(method, path, body);
      if (!res.ok) return fail(res);
      return (await res.json()) as T;
    },
    async requestBytes(path) {
      const res = await call('GET', path);
      if (!res.ok) return fail(res);
      return Buffer.from(await res.arrayBuffer());
    },
  };
}
