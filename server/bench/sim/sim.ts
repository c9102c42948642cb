/**
 * pnpm sim — simulates N agents against a running server over loopback, speaking the real agent
 * protocol (@suture/shared/protocol): each enrolls once with an enrollment token (credentials are
 * cached in a file, so a second run reconnects the same fleet), takes an agent token, connects
 * (staggered), says hello, sends a full inventory drawn from a pool of modules (only when the
 * welcome says the server does not hold it) and its patch status (--patches-per-agent patches,
 * applied, on every connect, as the real agent does), and answers every unapply command as the
 * real agent does: an `unapplied` outcome event naming the command, then `command-ack` (both
 * frames in one write: the simulator's system calls compete with the server's for the same
 * cores, where real agents each have a machine of their own). Disconnects reconnect with
 * exponential back-off and jitter (honouring 503 + Retry-After). Bounded in count (--agents <= 20,000) and in time (--duration, default 300 s).
 *
 *   pnpm sim --server http://127.0.0.1:8080 --enroll-token <secret> --agents 1000
 *
 * Live stats on stderr every 2 s. Run as a child with an IPC channel (the bench), it also posts
 * each welcome, and with every stats tick its counters and when its agents received commands
 * (gathered, not one IPC message per command: they would compete with the answers).
 */
import { randomUUID, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, inventoryDigest, parseMessage, encodeMessage, type AgentMessage, type ServerMessage } from '@suture/shared/protocol';

const MAX_AGENTS = 20_000;
const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'http://127.0.0.1:8080' },
    'enroll-token': { type: 'string' },
    agents: { type: 'string', default: '100' },
    offset: { type: 'string', default: '0' },
    credentials: { type: 'string', default: '.sim-credentials.json' },
    'connect-per-second': { type: 'string', default: '1000' },
    duration: { type: 'string', default: '300' },
    'module-pool': { type: 'string', default: '400' },
    'modules-per-agent': { type: 'string', default: '40' },
    'patches-per-agent': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
  },
});

function fail(msg: string): never {
  process.stderr.write(`[sim] ${msg}\n`);
  process.exit(2);
}
const int = (name: keyof typeof args, min: number, max: number) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max} (got ${args[name]})`);
  return n;
};
const N = int('agents', 1, MAX_AGENTS);
const OFFSET = int('offset', 0, 1_000_000);
const RATE = int('connect-per-second', 1, 100_000);
const DURATION_S = int('duration', 1, 24 * 3600);
const POOL = int('module-pool', 1, 100_000);
const PER_AGENT = Math.min(int('modules-per-agent', 0, 20_000), POOL);
const CONCURRENCY = int('concurrency', 1, 1000);
const PATCHES = int('patches-per-agent', 0, 100);
const server = args.server!.replace(/\/$/, '');
const wsUrl = `${server.replace(/^http/, 'ws')}/api/v1/agents/socket`;
const ipc = typeof process.send === 'function';

// A realistic inventory: modules drawn from a pool with a skew (a few libraries are everywhere).
const pool = Array.from({ length: POOL }, (_, i) => ({ sha256: createHash('sha256').update(`sim-module-${i}`).digest('hex'), name: `lib${i}.so` }));
function inventoryFor(i: number) {
  const picked = new Map<number, number>();
  let x = (i + 1) * 2654435761;
  while (picked.size < PER_AGENT) {
    x = (x * 1103515245 + 12345) >>> 0;
    const r = x / 2 ** 32;
    const k = Math.floor(r * r * POOL); // skewed towards the start of the pool
    picked.set(k, 1 + (x % 7));
  }
  return [...picked].map(([k, processes]) => ({ ...pool[k]!, processes }));
}

const stats = { enrolled: 0, connected: 0, welcomed: 0, commands: 0, acked: 0, eventsAcked: 0, reconnects: 0, errors: 0, refused503: 0 };
const errorsSeen = new Map<string, number>();
/** When commands arrived since the last stats tick: [command id, ms since epoch]. */
let received: [string, number][] = [];
const noteError = (what: string) => {
  stats.errors++;
  errorsSeen.set(what, (errorsSeen.get(what) ?? 0) + 1);
};

type Credential = { agentId: string; credential: string };
const credFile = args.credentials!;
const creds: Record<string, Credential> = existsSync(credFile) ? JSON.parse(readFileSync(credFile, 'utf8')) : {};

async function post<T>(path: string, body: unknown): Promise<{ status: number; body: T; retryAfter: number }> {
  const res = await fetch(`${server}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as T, retryAfter: Number(res.headers.get('retry-after') ?? 1) };
}

async function withRetry<T>(what: string, fn: () => Promise<{ status: number; body: T; retryAfter: number }>, ok: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await fn().catch((err: Error) => ({ status: 0, body: { error: { message: err.message } } as never, retryAfter: 1 }));
    if (r.status === ok) return r.body;
    if ((r.status === 429 || r.status === 503 || r.status === 0) && attempt < 20) {
      await sleep(r.retryAfter * 1000 * (0.5 + Math.random()));
      continue;
    }
    fail(`${what} failed: ${r.status} ${JSON.stringify(r.body)} — check --server and --enroll-token (an enrollment token with enough uses)`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inParallel<T>(items: T[], n: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** One simulated agent: its socket, its answers, its reconnects. */
function simAgent(i: number, cred: Credential) {
  let token = '';
  let stopped = false;
  /** Where this agent is, for the bench's report of agents that never came back. */
  let phase: 'session' | 'upgrading' | 'open' | 'welcomed' | 'backoff' = 'session';
  let attempt = 0;
  const inventory = inventoryFor(i);
  const digest = inventoryDigest(inventory);
  // What a host with this many patches enabled and applied reports (the ids need not exist).
  const patchStatus = Array.from({ length: PATCHES }, (_, k) => ({ patchId: `SIM-${k + 1}`, matching: 2, applied: 2, refused: 0, failed: 0 }));
  const hostname = `sim-${i}`;
  async function session() {
    const s = await withRetry<{ token: string }>(`session for ${hostname}`, () => post('/api/v1/agents/session', cred), 200);
    token = s.token;
  }
  function connect(): void {
    if (stopped) return;
    // A handshake left unanswered (a server going down mid-upgrade) is given up and retried.
    phase = 'upgrading';
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: 15_000 });
    let welcomed = false;
    let opened = false;
    const send = (m: AgentMessage) => ws.readyState === WebSocket.OPEN && ws.send(encodeMessage(m));
    ws.on('open', () => {
      opened = true;
      phase = 'open';
      stats.connected++;
      send({ v: PROTOCOL_VERSION, type: 'hello', agentVersion: '0.1.0-sim', os: 'linux', arch: 'x86_64', hostname, desiredVersion: 0, inventoryDigest: digest });
    });
    ws.on('unexpected-response', (_req, res) => {
      const wait = Number(res.headers['retry-after'] ?? 0) * 1000;
      if (res.statusCode === 503) stats.refused503++;
      else if (res.statusCode === 401) void session().catch(() => {});
      else noteError(`upgrade ${res.statusCode}`);
      res.resume();
      ws.removeAllListeners('close');
      retry(wait);
    });
    ws.on('message', (data: Buffer) => {
      const p = parseMessage('server', data);
      if (!p.ok) return noteError(`bad server message ${p.code}`);
      const m: ServerMessage = p.message;
      switch (m.type) {
        case 'welcome':
          welcomed = true;
          phase = 'welcomed';
          attempt = 0;
          stats.welcomed++;
          if (ipc) process.send!({ kind: 'welcome', i, at: Date.now() });
          // As the real agent: a full inventory only when the server does not hold this one.
          if (!m.inventoryCurrent) send({ v: PROTOCOL_VERSION, type: 'inventory', full: true, modules: inventory, digest });
          send({ v: PROTOCOL_VERSION, type: 'patch-status', patches: patchStatus }); // the real agent reports it on every connect
          return;
        case 'command': {
          if (ipc) received.push([m.id, Date.now()]);
          stats.commands++;
          // As the real agent: the outcome first (it answers the command), then the acknowledgement,
          // here corked into one write (ws has no public cork; its underlying net.Socket does).
          const raw = (ws as unknown as { _socket?: Socket })._socket;
          raw?.cork();
          send({ v: PROTOCOL_VERSION, type: 'events', events: [{ id: randomUUID(), at: new Date().toISOString(), type: 'unapplied', patchId: m.patchId, pid: 0, commandId: m.id }] });
          send({ v: PROTOCOL_VERSION, type: 'command-ack', commandId: m.id, outcome: 'done' });
          raw?.uncork();
          stats.acked++;
          return;
        }
        case 'events-ack':
          stats.eventsAcked += m.ids.length;
          return;
        case 'error':
          return noteError(`server error ${m.code}`);
        default:
          return; // desired state, token: nothing to do for a simulated host without patches
      }
    });
    ws.on('error', (err) => {
      if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(err.message)) noteError(err.message.slice(0, 80));
    });
    ws.on('close', () => {
      if (welcomed) stats.welcomed--;
      if (opened) stats.connected--;
      retry();
    });
    current = ws;
  }
  let current: WebSocket | undefined;
  function retry(wait?: number) {
    if (stopped) return;
    stats.reconnects++;
    phase = 'backoff';
    const backoff = Math.min(30_000, 500 * 2 ** Math.min(attempt++, 6));
    setTimeout(connect, wait || backoff * (0.5 + Math.random() / 2)).unref();
  }
  return {
    phase: () => phase,
    async start() {
      await session();
      connect();
    },
    stop() {
      stopped = true;
      current?.close(1000, 'sim stopping');
    },
  };
}

async function main() {
  const ids = Array.from({ length: N }, (_, k) => OFFSET + k);
  const missing = ids.filter((i) => !creds[i]);
  if (missing.length) {
    if (!args['enroll-token']) fail(`${missing.length} simulated agents are not enrolled yet; pass --enroll-token (an enrollment token with at least that many uses)`);
    process.stderr.write(`[sim] enrolling ${missing.length} agents (${CONCURRENCY} at a time)\n`);
    await inParallel(missing, CONCURRENCY, async (i) => {
      const r = await withRetry<{ agent: { id: string }; credential: string }>(`enrolling sim-${i}`, () => post('/api/v1/agents/enroll', { token: args['enroll-token'], hostname: `sim-${i}`, os: 'linux', arch: 'x86_64', version: '0.1.0-sim' }), 201);
      creds[i] = { agentId: r.agent.id, credential: r.credential };
      stats.enrolled++;
    });
    writeFileSync(credFile, JSON.stringify(creds), { mode: 0o600 });
  }
  const agents = ids.map((i) => simAgent(i, creds[i]!));
  const started = Date.now();
  const ticker = setInterval(() => {
    process.stderr.write(`[sim] ${((Date.now() - started) / 1000).toFixed(0)} s: welcomed ${stats.welcomed}/${N}, commands ${stats.commands}, acked ${stats.acked}, events acked ${stats.eventsAcked}, reconnects ${stats.reconnects}, 503 ${stats.refused503}, errors ${stats.errors}${errorsSeen.size ? ` ${JSON.stringify(Object.fromEntries(errorsSeen))}` : ''}\n`);
    if (ipc) process.send!({ kind: 'stats', stats, received });
    received = [];
  }, 2000);
  // Staggered connects: RATE per second.
  const batch = Math.max(1, Math.round(RATE / 20));
  for (let k = 0; k < agents.length; k += batch) {
    await inParallel(agents.slice(k, k + batch), CONCURRENCY, (a) => a.start());
    await sleep(50);
  }
  const stopAll = () => {
    clearInterval(ticker);
    for (const a of agents) a.stop();
    if (errorsSeen.size) process.stderr.write(`[sim] errors: ${JSON.stringify(Object.fromEntries(errorsSeen))}\n`);
    process.stderr.write(`[sim] done: ${JSON.stringify(stats)}\n`);
    setTimeout(() => process.exit(0), 500).unref();
  };
  setTimeout(stopAll, DURATION_S * 1000).unref();
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
  if (ipc) process.on('disconnect', stopAll);
  // The bench asks where the agents not welcomed are (a storm that does not finish).
  if (ipc) process.on('message', (m: { kind?: string }) => {
    if (m?.kind !== 'phases') return;
    const counts: Record<string, number> = {};
    for (const a of agents) counts[a.phase()] = (counts[a.phase()] ?? 0) + 1;
    process.stderr.write(`[sim] agents by phase: ${JSON.stringify(counts)}; stats ${JSON.stringify(stats)}; errors ${JSON.stringify(Object.fromEntries(errorsSeen))}\n`);
  });
  await new Promise(() => {});
}

void main().catch((err) => fail(`stopped: ${(err as Error).stack ?? err}`));
