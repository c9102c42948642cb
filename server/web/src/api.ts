/**
 * The server's API as the dashboard uses it. The session token lives in sessionStorage (gone
 * when the tab closes) and travels only in the Authorization header, never in a URL; live
 * streams are read with fetch, not EventSource, so they can carry that header too.
 */
const TOKEN_KEY = 'suture.session';

export interface Session {
  token: string;
  expiresAt: string;
  username: string;
  role: 'admin' | 'operator' | 'auditor';
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
  /** The server has no such route: an endpoint this dashboard expects is not there (yet). */
  get missingEndpoint(): boolean {
    return this.status === 404 && this.code === 'not-found' && this.message.startsWith('no route');
  }
}

let onExpired: () => void = () => {};
/** Called when the server refuses the session (expired or revoked): the app shows the login page. */
export function onSessionExpired(fn: () => void) {
  onExpired = fn;
}

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null') as Session | null;
    if (!s || typeof s.token !== 'string' || Date.parse(s.expiresAt) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null) {
  if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function errorOf(res: Response, path: string): Promise<ApiError> {
  let code = 'http-' + res.status;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    /* not the JSON error shape */
  }
  if (res.status === 429) message += ` (retry in ${res.headers.get('retry-after') ?? 'a few'} s)`;
  return new ApiError(res.status, code, message, path);
}

function headers(body: unknown): Record<string, string> {
  const h: Record<string, string> = {};
  const s = loadSession();
  if (s) h.authorization = `Bearer ${s.token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return h;
}

/** One API call under /api/v1; throws ApiError with the server's message on failure. */
export async function api<T>(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers: headers(body), body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal, cache: 'no-store' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'the server cannot be reached; check that it is running', path);
  }
  if (!res.ok) {
    const e = await errorOf(res, path);
    if (res.status === 401 && !path.startsWith('/auth/login')) onExpired();
    throw e;
  }
  return (await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, undefined, { signal });

export async function login(username: string, password: string): Promise<Session> {
  const r = await api<{ token: string; expiresAt: string; user: { username: string; role: Session['role'] } }>('POST', '/auth/login', { username, password });
  const s: Session = { token: r.token, expiresAt: r.expiresAt, username: r.user.username, role: r.user.role };
  saveSession(s);
  return s;
}

export interface StreamEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream at `path` until `signal` aborts or the server ends it.
 * Resolves when the stream ends; rejects with ApiError when the server refuses it.
 */
export async function stream(path: string, onEvent: (e: StreamEvent) => void, opts: { signal: AbortSignal; lastEventId?: string | null; onOpen?: () => void }): Promise<void> {
  const h = headers(undefined);
  h.accept = 'text/event-stream';
  if (opts.lastEventId) h['last-event-id'] = opts.lastEventId;
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { headers: h, signal: opts.signal, cache: 'no-store' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') return;
    throw new ApiError(0, 'network', 'the server cannot be reached; check that it is running', path);
  }
  if (!res.ok || !res.body) {
    const e = await errorOf(res, path);
    if (res.status === 401) onExpired();
    throw e;
  }
  opts.onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let cur: StreamEvent = { id: null, event: 'message', data: '' };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (hasData) onEvent(cur);
          cur = { id: null, event: 'message', data: '' };
          hasData = false;
        } else if (!line.startsWith(':')) {
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'data') (cur.data += (hasData ? '\n' : '') + val), (hasData = true);
          else if (field === 'event') cur.event = val;
          else if (field === 'id') cur.id = val;
        }
      }
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError' || opts.signal.aborted) return;
    throw new ApiError(0, 'network', 'the live stream broke off', path);
  } finally {
    reader.releaseLock();
  }
}

/** Builds a query string from the defined values. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
