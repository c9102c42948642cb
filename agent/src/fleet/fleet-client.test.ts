/**
 * The agent's connection against servers that stop answering: a real HTTP server (the session
 * endpoint) with a real `ws` server on 127.0.0.1 standing in for a server host that accepts
 * the TCP connection but never upgrades it, upgrades but never welcomes, or welcomes and then
 * goes silent as a host behind a partition does (no FIN, no RST). The agent must give up on such
 * a socket and connect again through its back-off loop; a server that keeps pinging keeps it.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeMessage, inventoryDigest, parseMessage, PROTOCOL_VERSION } from '@suture/shared/protocol';
import { createFleetClient, type FleetTimeouts } from './fleet-client.ts';

const AGENT_ID = '7f3c2a9e-1b4d-4e8f-9a6b-2c5d8e1f0a3b';

interface FakeServer {
  url: string;
  sessions: number;
  /** upgrade requests taken (answered or not) */
  upgrades: number;
  /** when each upgrade request arrived (Date.now()) */
  upgradeTimes: number[];
  /** the token each upgrade request carried */
  upgradeTokens: string[];
  /** sockets upgraded */
  sockets: WebSocket[];
  close(): Promise<void>;
}

/**
 * `session: 'hang'` takes the session request and never answers; `upgrade: 'hang'` takes the
 * upgrade request and never answers it; `refuse` answers the first upgrades with that status
 * (and Retry-After) as a shedding server does; otherwise sockets are upgraded and given to
 * `onSocket`. Sessions hand out `session-1`, `session-2`, ... living `tokenLifeMs` (1 h).
 */
async function fakeServer(behaviour: { session?: 'hang'; upgrade?: 'hang'; refuse?: { status: number; retryAfter?: string; times: number }; tokenLifeMs?: number; onSocket?: (socket: WebSocket) => void }): Promise<FakeServer> {
  const held: Duplex[] = [];
  const http: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/v1/agents/session') return void res.writeHead(404).end();
    fake.sessions++;
    if (behaviour.session === 'hang') return;
    const token = `session-${fake.sessions}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expiresAt: new Date(Date.now() + (behaviour.tokenLifeMs ?? 3_600_000)).toISOString() }));
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    fake.upgrades++;
    fake.upgradeTimes.push(Date.now());
    held.push(socket);
    assert.equal(req.url, '/api/v1/agents/socket');
    fake.upgradeTokens.push(req.headers.authorization?.replace(/^Bearer /, '') ?? '');
    if (behaviour.upgrade === 'hang') return;
    if (behaviour.refuse && fake.upgrades <= behaviour.refuse.times) {
      const headers = behaviour.refuse.retryAfter === undefined ? '' : `Retry-After: ${behaviour.refuse.retryAfter}\r\n`;
      const body = '{"error":{"code":"overloaded"}}';
      return void socket.end(`HTTP/1.1 ${behaviour.refuse.status} Refused\r\n${headers}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      fake.sockets.push(ws);
      behaviour.onSocket?.(ws);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const fake: FakeServer = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    sessions: 0,
    upgrades: 0,
    upgradeTimes: [],
    upgradeTokens: [],
    sockets: [],
    async close() {
      for (const ws of fake.sockets) ws.terminate();
      for (const s of held) s.destroy();
      http.closeAllConnections();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => http.close(resolve));
    },
  };
  return fake;
}

/** Answers hello with welcome, as the real server does; then whatever the test does. */
const welcomes = (heartbeatSeconds: number) => (ws: WebSocket) =>
  ws.on('message', (data: Buffer) => {
    const p = parseMessage('agent', data);
    if (p.ok && p.message.type === 'hello') ws.send(encodeMessage({ v: PROTOCOL_VERSION, type: 'welcome', agentId: AGENT_ID, group: 'default', heartbeatSeconds }));
  });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startAgent(server: string, timeouts?: Partial<FleetTimeouts>) {
  const stateDir = mkdtempSync(join(tmpdir(), 'suture-fleet-'));
  const logs: string[] = [];
  const client = createFleetClient({
    stateDir,
    credential: { server, agentId: AGENT_ID, credential: 'sut_agt_test' },
    hello: { agentVersion: '0.1.0', os: 'linux', arch: 'x86_64', hostname: 'test-host' },
    unapply: async () => [],
    desired: async () => {},
    log: (msg) => logs.push(msg),
    timeouts,
  });
  const running = client.start();
  cleanups.push(async () => {
    client.stop();
    await running; // returns once stopped: no back-off sleep or socket left behind
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { logs, client };
}

/** Waits for a condition; the bound is generous and only turns a hang into a clear failure. */
async function until(what: string, cond: () => boolean, withinMs = 10_000): Promise<void> {
  const end = Date.now() + withinMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what}: did not happen within ${withinMs} ms`);
    await sleep(20);
  }
}

test('a server that takes the TCP connection and never answers the upgrade: the agent gives up on the handshake and connects again', async () => {
  const server = await fakeServer({ upgrade: 'hang' });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url, { handshakeMs: 300 });
  await until('a second upgrade request', () => server.upgrades >= 2);
  assert.equal(server.sockets.length, 0);
  assert.equal(server.sessions, 1, 'the token is still good: reused, not a new session per attempt');
  assert.deepEqual(server.upgradeTokens.slice(0, 2), ['session-1', 'session-1']);
  assert.ok(logs.some((l) => /handshake has timed out/.test(l)), logs.join('\n'));
});

test('a server that upgrades but never welcomes: the agent closes the socket after the welcome deadline and connects again', async () => {
  const server = await fakeServer({});
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url, { welcomeMs: 400 });
  await until('a second socket', () => server.sockets.length >= 2);
  assert.notEqual(server.sockets[0]!.readyState, server.sockets[0]!.OPEN, 'the first socket is given up, not kept beside the new one');
  assert.ok(logs.includes('no welcome from the server within 0.4 s of connecting; reconnecting'), logs.join('\n'));
});

test('a server that welcomes (heartbeat 1 s) and then goes silent: the agent terminates the socket after 3 missed heartbeats and connects again', async () => {
  const server = await fakeServer({ onSocket: welcomes(1) }); // and never a ping or a frame after the welcome
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('a second socket', () => server.sockets.length >= 2);
  assert.notEqual(server.sockets[0]!.readyState, server.sockets[0]!.OPEN);
  assert.ok(logs.includes('no word from the server for 3 s; reconnecting'), logs.join('\n'));
  // The second socket is upgraded before its welcome arrives: wait for it rather than race it.
  await until('the second welcome', () => logs.filter((l) => l.startsWith('connected to')).length === 2);
});

test('a server that keeps pinging (heartbeat 1 s) keeps the agent connected over several heartbeats', async () => {
  const server = await fakeServer({
    onSocket: (ws) => {
      welcomes(1)(ws);
      const beat = setInterval(() => ws.ping(), 1000);
      ws.on('close', () => clearInterval(beat));
    },
  });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('the welcome', () => logs.some((l) => l.startsWith('connected to')));
  await sleep(5000); // 5 heartbeats; 3 silent ones would end the socket
  assert.equal(server.sockets.length, 1, logs.join('\n'));
  assert.equal(server.sockets[0]!.readyState, server.sockets[0]!.OPEN);
  assert.ok(!logs.some((l) => /reconnecting/.test(l)), logs.join('\n'));
});

test('a server that takes the session request and never answers: the agent gives up on it and tries again', async () => {
  const server = await fakeServer({ session: 'hang' });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url, { sessionMs: 300 });
  await until('a second session request', () => server.sessions >= 2);
  assert.equal(server.upgrades, 0);
  assert.ok(logs.some((l) => l.endsWith('no answer to POST /api/v1/agents/session within 0.3 s')), logs.join('\n'));
});

test('a shedding server (503 + Retry-After: 2 on the upgrade): the agent comes back after those 2 s, not its back-off, and connects', async () => {
  const server = await fakeServer({ refuse: { status: 503, retryAfter: '2', times: 1 }, onSocket: welcomes(15) });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('the welcome after the refusal', () => logs.some((l) => l.startsWith('connected to')));
  assert.equal(server.upgrades, 2, logs.join('\n'));
  const gap = server.upgradeTimes[1]! - server.upgradeTimes[0]!;
  // The first back-off is 0.25 to 0.5 s: 2 s apart means Retry-After was honoured.
  assert.ok(gap >= 1_950 && gap < 4_000, `the second upgrade came ${gap} ms after the first`);
  assert.ok(logs.includes('server busy (503 on the upgrade); retrying in 2 s'), logs.join('\n'));
  assert.ok(!logs.some((l) => l.startsWith('connection error')), `a refusal is not an error: ${logs.join('\n')}`);
});

test('an upgrade refused with 401 (a token gone stale): the agent asks for a new session through its back-off and connects', async () => {
  const server = await fakeServer({ refuse: { status: 401, times: 1 }, onSocket: welcomes(15) });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('the welcome after the refusal', () => logs.some((l) => l.startsWith('connected to')));
  assert.equal(server.upgrades, 2);
  assert.equal(server.sessions, 2, 'a new session for the new attempt');
  assert.deepEqual(server.upgradeTokens, ['session-1', 'session-2'], 'the refused token is not offered again');
  assert.ok(server.upgradeTimes[1]! - server.upgradeTimes[0]! < 1_900, 'the back-off, not a Retry-After');
  assert.ok(logs.includes('the server refused the connection (401); reconnecting'), logs.join('\n'));
});

test('inventory: in full on the first connect, then deltas, each with the digest of the whole set; on a reconnect the server holds (welcome says current) only what changed', async () => {
  const stored: { digest?: string | undefined } = {};
  const inventories: { socket: number; full: boolean; modules: string[]; digest?: string | undefined }[] = [];
  const server = await fakeServer({
    onSocket: (ws) => {
      const socket = server.sockets.length;
      ws.on('message', (data: Buffer) => {
        const p = parseMessage('agent', data);
        assert.ok(p.ok);
        const m = p.message;
        if (m.type === 'hello')
          ws.send(encodeMessage({ v: PROTOCOL_VERSION, type: 'welcome', agentId: AGENT_ID, group: 'default', heartbeatSeconds: 15, inventoryCurrent: m.inventoryDigest !== undefined && m.inventoryDigest === stored.digest }));
        if (m.type === 'inventory') {
          inventories.push({ socket, full: m.full, modules: m.modules.map((x) => `${x.name}:${x.processes}`), digest: m.digest });
          stored.digest = m.digest; // as the server: the last message's digest speaks for the set
        }
      });
    },
  });
  cleanups.push(() => server.close());
  const { logs, client } = startAgent(server.url);
  const host = (mods: [string, number][]) => ({ modules: new Map(mods.map(([n, processes]) => [n.repeat(64), { name: `lib${n}.so`, processes }])), patches: [] });
  const digest = (mods: [string, number][]) => inventoryDigest(mods.map(([n, processes]) => ({ sha256: n.repeat(64), name: `lib${n}.so`, processes })));
  client.hostSummary(host([['a', 3], ['b', 1]]));
  await until('the first inventory', () => inventories.length === 1);
  client.hostSummary(host([['a', 3], ['b', 2]]));
  await until('a delta', () => inventories.length === 2);
  server.sockets[0]!.terminate();
  await until('a second welcome', () => logs.filter((l) => l.startsWith('connected to')).length === 2);
  client.hostSummary(host([['a', 3], ['b', 2], ['c', 1]]));
  await until('a delta on the new socket', () => inventories.length === 3);
  assert.deepEqual(inventories, [
    { socket: 1, full: true, modules: ['liba.so:3', 'libb.so:1'], digest: digest([['a', 3], ['b', 1]]) },
    { socket: 1, full: false, modules: ['libb.so:2'], digest: digest([['a', 3], ['b', 2]]) },
    { socket: 2, full: false, modules: ['libc.so:1'], digest: digest([['a', 3], ['b', 2], ['c', 1]]) },
  ]);
});

test('a token the server hands over on the socket (a renewal) is the one the next connect uses, without a new session', async () => {
  const server = await fakeServer({
    onSocket: (ws) => {
      welcomes(15)(ws);
      ws.send(encodeMessage({ v: PROTOCOL_VERSION, type: 'token', token: 'renewed', expiresAt: new Date(Date.now() + 3_600_000).toISOString() }));
    },
  });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('the welcome', () => logs.some((l) => l.startsWith('connected to')));
  await sleep(100); // the token frame came before the welcome; nothing else to wait for
  server.sockets[0]!.terminate();
  await until('a second welcome', () => logs.filter((l) => l.startsWith('connected to')).length === 2);
  assert.deepEqual(server.upgradeTokens, ['session-1', 'renewed']);
  assert.equal(server.sessions, 1);
});

test('a token with under a minute left is not reused: the next connect asks for a new session', async () => {
  const server = await fakeServer({ onSocket: welcomes(15), tokenLifeMs: 45_000 });
  cleanups.push(() => server.close());
  const { logs } = startAgent(server.url);
  await until('the welcome', () => logs.some((l) => l.startsWith('connected to')));
  server.sockets[0]!.terminate();
  await until('a second welcome', () => logs.filter((l) => l.startsWith('connected to')).length === 2);
  assert.deepEqual(server.upgradeTokens, ['session-1', 'session-2']);
  assert.equal(server.sessions, 2);
});
