import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SPEC_VERSION, type PatchDocument, type RootDocument } from '@suture/shared/schemas';
import { envelopeBytes, generateKeyPair, signDocument, type KeyPair } from '@suture/shared/trust';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliEntry = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const serverEntry = fileURLToPath(new URL('../../server/src/server.ts', import.meta.url));

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the real `suture` CLI as a child process. */
export function suture(args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json() {
      try {
        return JSON.parse(r.stdout);
      } catch {
        throw new Error(`suture ${args.join(' ')} printed no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
      }
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface ServerProcess {
  url: string;
  proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts the real server process (the same entry as `pnpm start`) and waits for /readyz; `env.PORT` picks the port (to restart a replica where its agents look for it). */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let logs = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', serverEntry], {
    cwd: repoRoot,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (logs += d));
  proc.stderr!.on('data', (d) => (logs += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${logs}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`server not ready in 60 s:\n${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    logs: () => logs,
    stop: () =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      }),
  };
}

/** Logs in through the API; returns the session token. */
export async function login(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** A JSON API client for a running server, authenticated with `token`. */
export function apiClient(url: string, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const raw = body instanceof Uint8Array;
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : raw ? Buffer.from(body) : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
}

/**
 * Makes the server trusted end to end: a root (version 1) naming a fresh root key, a fresh
 * publisher key and the server's online key, uploaded with `token` (admin). Returns the publisher key.
 */
export async function publishRoot(url: string, token: string): Promise<KeyPair> {
  const api = apiClient(url, token);
  const online = (await api('GET', '/api/v1/keys/online')).json as { keyid: string; public: string };
  const [rootKey, publisher] = [generateKeyPair(), generateKeyPair()];
  const doc: RootDocument = {
    type: 'root', specVersion: SPEC_VERSION, version: 1, expires: new Date(Date.now() + 86_400_000).toISOString(),
    keys: Object.fromEntries([rootKey, publisher, { keyid: online.keyid, publicKey: online.public }].map((k) => [k.keyid, { keytype: 'ed25519' as const, public: k.publicKey }])),
    roles: { root: { keyids: [rootKey.keyid], threshold: 1 }, publisher: { keyids: [publisher.keyid], threshold: 1 }, online: { keyids: [online.keyid], threshold: 1 } },
  };
  const put = await api('PUT', '/api/v1/root', envelopeBytes(signDocument('root', doc, [rootKey])));
  if (put.status !== 200) throw new Error(`uploading the root failed: ${put.status} ${JSON.stringify(put.json)}`);
  return publisher;
}

/** Signs `doc` with `publisher` and publishes it; returns the patch as the server stored it. */
export async function publishPatch(url: string, token: string, doc: PatchDocument, publisher: KeyPair): Promise<{ id: string }> {
  const res = await apiClient(url, token)('POST', '/api/v1/patches', envelopeBytes(signDocument('patch', doc, [publisher])));
  if (res.status !== 201) throw new Error(`publishing ${doc.id} failed: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

const agentEntry = fileURLToPath(new URL('../../agent/src/main.ts', import.meta.url));

/** Enrolls a real agent (`suture-agent enroll`) with an enrollment token for `group`; returns its id and state dir. */
export async function enrollAgent(opts: { url: string; token: string; group: string; stateDir: string }): Promise<string> {
  const tok = await apiClient(opts.url, opts.token)('POST', '/api/v1/enrollment-tokens', { name: `e2e-${opts.group}`, group: opts.group, maxUses: 1, expiresInHours: 1 });
  if (tok.status !== 201) throw new Error(`creating an enrollment token failed: ${tok.status} ${JSON.stringify(tok.json)}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', agentEntry, '--state-dir', opts.stateDir, '--json', 'enroll', '--server', opts.url, '--token', tok.json.token], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`suture-agent enroll failed (${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { agentId: string }).agentId;
}

/** Runs the real agent daemon (`suture-agent run`) on `stateDir`. */
export function runAgent(stateDir: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', agentEntry, '--state-dir', stateDir, 'run', '--interval', '500'], { cwd: repoRoot, stdio: 'ignore' });
}

/** Polls `predicate` (every 200 ms) until it returns a value other than undefined or false, and returns that; fails naming `what` after `timeoutMs`. A throw counts as not yet. */
export async function until<T>(predicate: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  let last: unknown;
  for (const end = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 200))) {
    try {
      const v = await predicate();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
  }
}

/** The pids of `pid`'s children (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `hostPid`'s pid inside the innermost PID namespace it is in. */
export function namespacePid(hostPid: number): number {
  const line = readFileSync(`/proc/${hostPid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
  if (!line) throw new Error(`no NSpid for ${hostPid}`);
  return Number(line.trim().split(/\s+/).at(-1));
}

export interface IsolatedAgent {
  /** `unshare`, whose child is the agent; SIGKILL it and the agent and everything in its namespace die */
  proc: ChildProcess;
  /** the agent's pid on the host */
  hostPid: number;
  /** runs a command inside the agent's PID namespace (pass as `wrap` to startTarget) */
  wrap: string[];
}

/**
 * Runs the real agent daemon on `stateDir` as PID 1 of a PID namespace of its own (with its own
 * /proc), so several agents on one machine each see, and patch, only the targets started in
 * their namespace (`wrap`), never each other's. Linux, root.
 */
export async function runIsolatedAgent(stateDir: string): Promise<IsolatedAgent> {
  const proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '--import', 'tsx', agentEntry, '--state-dir', stateDir, 'run', '--interval', '500'], { cwd: repoRoot, stdio: 'ignore' });
  const hostPid = await until(() => (proc.exitCode !== null ? Promise.reject(new Error(`unshare exited with ${proc.exitCode}`)) : childrenOf(proc.pid!)[0]), 10_000, 'unshare starts the agent');
  return { proc, hostPid, wrap: ['nsenter', '--target', String(hostPid), '--pid', '--'] };
}

/** The target's own pid on the host and in its namespace, when `startTarget` ran it through a wrapper such as nsenter. */
export async function wrappedPids(wrapperPid: number): Promise<{ hostPid: number; nsPid: number }> {
  const hostPid = await until(() => childrenOf(wrapperPid)[0], 5000, `the wrapper ${wrapperPid} starts the target`);
  return { hostPid, nsPid: namespacePid(hostPid) };
}
