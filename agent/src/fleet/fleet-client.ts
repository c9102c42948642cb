import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { encodeMessage, inventoryDigest, parseMessage, PROTOCOL_VERSION, type AgentMessage, type ServerMessage } from '@suture/shared/protocol';
import type { PatchEvent } from '../patching/patch-manager.ts';
import { createOutbox } from './outbox.ts';
import { inventoryDelta, type HostSummary } from './host-summary.ts';
import type { DesiredInput } from './trust-store.ts';

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

/** A server's Retry-After (seconds; absent or unreadable: 5 s), capped at 10 minutes. */
const retryAfterMs = (header: string | string[] | null | undefined) => {
  const s = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(s) && s >= 0 ? Math.min(s, 600) * 1000 : 5_000;
};

/** What `suture-agent enroll` stores (0600): where the server is and who this agent is. */
export interface Credential {
  server: string;
  agentId: string;
  credential: string;
}

export const credentialFile = (stateDir: string) => join(stateDir, 'credential.json');
export const readCredential = (stateDir: string): Credential | undefined => {
  try {
    return JSON.parse(readFileSync(credentialFile(stateDir), 'utf8')) as Credential;
  } catch {
    return undefined;
  }
};

/** Exchanges an enrollment token once for this agent's credential and the root to pin. */
export async function enroll(opts: { stateDir: string; server: string; token: string; hostname: string; os: 'linux' | 'windows'; version: string; tags?: string[] }): Promise<{ credential: Credential; root: Uint8Array; group: string }> {
  const res = await fetch(new URL('/api/v1/agents/enroll', opts.server), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: opts.token, hostname: opts.hostname, os: opts.os, arch: 'x86_64', version: opts.version, ...(opts.tags?.length ? { tags: opts.tags } : {}) }),
  });
  const body = (await res.json()) as { agent: { id: string; group: string }; credential: string; root: string; error?: { message: string } };
  if (res.status !== 201) throw new Error(`enrollment refused (${res.status}): ${body.error?.message ?? 'no reason given'}`);
  const credential = { server: opts.server, agentId: body.agent.id, credential: body.credential };
  writeFileSync(credentialFile(opts.stateDir), JSON.stringify(credential), { mode: 0o600, flag: 'wx' });
  return { credential, root: new Uint8Array(Buffer.from(body.root, 'base64')), group: body.agent.group };
}

/**
 * How long the agent waits on the server before it gives up on a connection and reconnects
 * through its back-off. A server host that vanishes without a FIN or RST (a partition, a NAT
 * entry dropped) sends nothing again: without these the agent would wait on a dead socket for
 * ever, still enforcing its last accepted state but never hearing of a change.
 */
export interface FleetTimeouts {
  /** POST /api/v1/agents/session, its answer included */
  sessionMs: number;
  /** the WebSocket upgrade, from the TCP connect to 101 Switching Protocols */
  handshakeMs: number;
  /** from the socket opening (hello sent) to the server's welcome */
  welcomeMs: number;
  /** after welcome: heartbeats (the welcome's heartbeatSeconds) without any frame or ping from the server before the socket is taken for dead */
  missedHeartbeats: number;
}
export const FLEET_TIMEOUTS: Readonly<FleetTimeouts> = { sessionMs: 15_000, handshakeMs: 15_000, welcomeMs: 30_000, missedHeartbeats: 3 };

/**
 * The agent's connection to the server: one WebSocket, re-established with exponential back-off
 * and jitter (honouring 503 + Retry-After), hello on every connect, then the outbox of reports
 * the server has not acknowledged; commands are run one at a time and acknowledged after their
 * outcome events. The token is renewed over the socket at half its life and reused by the next
 * connect while it has a minute left. A connection that stops answering (see FleetTimeouts) is
 * dropped and made again.
 */
export function createFleetClient(opts: {
  stateDir: string;
  credential: Credential;
  hello: Omit<Extract<AgentMessage, { type: 'hello' }>, 'v' | 'type' | 'desiredVersion'>;
  /** runs an unapply command; resolves with the outcome events it produced */
  unapply: (patchId: string) => Promise<PatchEvent[]>;
  /** enforces the server's desired state (the enabled patches' envelopes, their modules' manifests, the root chain; verified there) */
  desired: (input: DesiredInput) => Promise<void>;
  log: (msg: string) => void;
  /** defaults: FLEET_TIMEOUTS */
  timeouts?: Partial<FleetTimeouts>;
}) {
  const timeouts: FleetTimeouts = { ...FLEET_TIMEOUTS, ...opts.timeouts };
  const seconds = (ms: number) => `${ms / 1000} s`;
  const outbox = createOutbox(opts.stateDir);
  let ws: WebSocket | undefined;
  let stopped = false;
  const halt = new AbortController(); // stop(): ends a session request or a back-off wait at once
  let commands = Promise.resolve();
  let activeCommand: string | undefined;
  /**
   * The agent token from the last session or renewal: reconnects reuse it while it has a
   * minute left, so a fleet coming back to a restarted server does not also ask it for a
   * session each; an upgrade refused with 401 drops it.
   */
  let token: { token: string; expiresAt: string } | undefined;
  const TOKEN_MARGIN_MS = 60_000;
  const send = (m: AgentMessage) => ws?.readyState === WebSocket.OPEN && ws.send(encodeMessage(m));
  const flush = () => {
    const pending = outbox.pending();
    for (let i = 0; i < pending.length; i += 1000) send({ v: PROTOCOL_VERSION, type: 'events', events: pending.slice(i, i + 1000) });
  };

  // What the server was told on this connection: the inventory (a full snapshot after welcome,
  // then deltas) and the last patch status (sent again only when it changes).
  let host: HostSummary | undefined;
  let welcomed = false;
  let sentModules = new Map<string, { name: string; processes: number }>();
  // The modules whose digest the last hello carried: what the server holds if the welcome says
  // the inventory is current (then only the changes since go out, not the whole set).
  let helloModules: Map<string, { name: string; processes: number }> | undefined;
  let sentStatus: string | undefined;
  const INVENTORY_CHUNK = 20_000;
  const digestOf = (modules: Map<string, { name: string; processes: number }>) => inventoryDigest([...modules].map(([sha256, m]) => ({ sha256, ...m })));
  /** `full`: a new connection (the whole patch status; the whole inventory unless `serverHas` says what the server holds). */
  const sendHost = (full: boolean, serverHas?: Map<string, { name: string; processes: number }>) => {
    if (!host || !welcomed) return;
    const whole = full && !serverHas;
    const modules = whole ? [...host.modules].map(([sha256, m]) => ({ sha256, ...m })) : inventoryDelta(serverHas ?? sentModules, host.modules);
    if (whole || modules.length > 0) {
      // The digest of the whole set goes with the last message, once the server has all of it.
      const digest = digestOf(host.modules);
      for (let i = 0; i < Math.max(modules.length, 1); i += INVENTORY_CHUNK) {
        const last = i + INVENTORY_CHUNK >= modules.length;
        send({ v: PROTOCOL_VERSION, type: 'inventory', full: whole && i === 0, modules: modules.slice(i, i + INVENTORY_CHUNK), ...(last ? { digest } : {}) });
      }
    }
    sentModules = new Map(host.modules);
    const status = JSON.stringify(host.patches);
    if (full || status !== sentStatus) send({ v: PROTOCOL_VERSION, type: 'patch-status', patches: host.patches });
    sentStatus = status;
  };

  async function session(): Promise<{ token: string; expiresAt: string } | { retryAfterMs: number }> {
    const timeout = AbortSignal.timeout(timeouts.sessionMs);
    try {
      const res = await fetch(new URL('/api/v1/agents/session', opts.credential.server), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agentId: opts.credential.agentId, credential: opts.credential.credential }),
        signal: AbortSignal.any([timeout, halt.signal]),
      });
      if (res.status === 503 || res.status === 429) {
        await res.body?.cancel();
        const wait = retryAfterMs(res.headers.get('retry-after'));
        opts.log(`server busy (${res.status} on the session request); retrying in ${seconds(wait)}`);
        return { retryAfterMs: wait };
      }
      if (res.status !== 200) throw new Error(`the server refused this agent's credential (${res.status}); enroll it again`);
      return (await res.json()) as { token: string; expiresAt: string };
    } catch (err) {
      if (timeout.aborted) throw new Error(`no answer to POST /api/v1/agents/session within ${seconds(timeouts.sessionMs)}`);
      throw err;
    }
  }

  function onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'welcome':
        opts.log(`connected to ${opts.credential.server} as ${m.agentId} (group ${m.group})`);
        welcomed = true;
        sendHost(true, m.inventoryCurrent ? helloModules : undefined);
        return flush();
      case 'events-ack':
        return outbox.acknowledge(m.ids);
      case 'command':
        commands = commands.then(async () => {
          let events: PatchEvent[] = [];
          let error: string | undefined;
          activeCommand = m.id; // the outcome events reported meanwhile answer this command
          try {
            events = await opts.unapply(m.patchId);
          } catch (err) {
            error = (err as Error).message;
          } finally {
            activeCommand = undefined;
          }
          const bad = events.filter((e) => e.type !== 'unapplied');
          send({ v: PROTOCOL_VERSION, type: 'command-ack', commandId: m.id, outcome: error || bad.length ? 'failed' : 'done', ...(error || bad.length ? { detail: (error ?? `${bad.length} process(es) not unapplied: ${bad[0]!.type} ${bad[0]!.reason ?? ''}`).slice(0, 2000) } : {}) });
        });
        return;
      case 'desired':
        commands = commands.then(() =>
          opts
            .desired({
              patches: m.patches.map((p) => ({ id: p.id, envelope: bytes(p.envelope) })),
              manifests: m.manifests.map((x) => ({ module: x.module, envelope: bytes(x.envelope) })),
              roots: m.roots.map(bytes),
            })
            .catch((err) => opts.log(`desired state not enforced: ${(err as Error).message}`)),
        );
        return;
      case 'token':
        token = { token: m.token, expiresAt: m.expiresAt };
        return;
      case 'error':
        return opts.log(`the server said: ${m.code}: ${m.message}`);
    }
  }

  async function connectOnce(): Promise<number | undefined> {
    if (!token || Date.parse(token.expiresAt) - Date.now() < TOKEN_MARGIN_MS) {
      token = undefined;
      const fresh = await session();
      if ('retryAfterMs' in fresh) return fresh.retryAfterMs;
      token = fresh;
    }
    const s = token;
    if (stopped) return undefined;
    const url = new URL('/api/v1/agents/socket', opts.credential.server.replace(/^http/, 'ws'));
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${s.token}` }, maxPayload: 2 * 1024 * 1024, handshakeTimeout: timeouts.handshakeMs });
    ws = socket;
    return new Promise<number | undefined>((resolve) => {
      socket.on('error', (err) => opts.log(`connection error: ${err.message}`)); // first, before anything can fail
      // Renewed at half the current token's remaining life (asked again until a new one comes).
      let renew: NodeJS.Timeout | undefined;
      const renewLater = () => {
        clearTimeout(renew);
        renew = setTimeout(() => (send({ v: PROTOCOL_VERSION, type: 'renew-token' }), renewLater()), Math.max(30_000, (Date.parse((token ?? s).expiresAt) - Date.now()) / 2));
      };
      renewLater();
      // An upgrade answered with anything but 101. A shedding server (503, or 429) says when to
      // come back: wait that long rather than the back-off, so a reconnect storm drains in the
      // order the server spread it. Anything else (401: the token went stale meanwhile) goes
      // through the back-off with a fresh session.
      socket.on('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        clearTimeout(renew);
        if (ws === socket) ws = undefined;
        if (res.statusCode === 503 || res.statusCode === 429) {
          const wait = retryAfterMs(res.headers['retry-after']);
          opts.log(`server busy (${res.statusCode} on the upgrade); retrying in ${seconds(wait)}`);
          resolve(wait);
        } else {
          if (res.statusCode === 401 && token === s) token = undefined; // revoked or stale: a new session, or the enrollment is gone
          opts.log(`the server refused the connection (${res.statusCode}); reconnecting`);
          resolve(undefined);
        }
      });
      // A silent server is a gone server: terminate (close() would wait for a closing handshake
      // that never comes) and let the back-off loop connect again.
      const giveUp = (why: string) => () => (opts.log(`${why}; reconnecting`), socket.terminate());
      let welcomeBy: NodeJS.Timeout | undefined;
      let alive: NodeJS.Timeout | undefined; // after welcome: pushed back by every frame and ping
      const heard = () => alive?.refresh();
      socket.on('open', () => {
        welcomeBy = setTimeout(giveUp(`no welcome from the server within ${seconds(timeouts.welcomeMs)} of connecting`), timeouts.welcomeMs);
        helloModules = host && new Map(host.modules);
        send({ v: PROTOCOL_VERSION, type: 'hello', desiredVersion: 0, ...opts.hello, ...(helloModules ? { inventoryDigest: digestOf(helloModules) } : {}) });
      });
      socket.on('ping', heard); // answered by ws itself (autoPong)
      socket.on('pong', heard);
      socket.on('message', (data: Buffer) => {
        heard();
        const p = parseMessage('server', data);
        if (p.ok && p.message.type === 'welcome') {
          const silentMs = timeouts.missedHeartbeats * p.message.heartbeatSeconds * 1000;
          clearTimeout(welcomeBy);
          clearTimeout(alive);
          alive = setTimeout(giveUp(`no word from the server for ${seconds(silentMs)}`), silentMs);
        }
        if (!p.ok) return opts.log(`ignored a bad message from the server: ${p.code}: ${p.detail}`);
        onMessage(p.message);
        if (p.message.type === 'token') renewLater();
      });
      socket.on('close', () => {
        clearTimeout(renew);
        clearTimeout(welcomeBy);
        clearTimeout(alive);
        welcomed = false;
        resolve(undefined);
      });
    });
  }

  return {
    outbox,
    /** The latest scan's summary: sent now as a delta when connected, in full on every connect. */
    hostSummary(s: HostSummary): void {
      host = s;
      sendHost(false);
    },
    /** Records an outcome (persisted) and sends it when connected. */
    report(e: PatchEvent): void {
      const stored = outbox.addOutcome(e, activeCommand);
      // Only the new one: everything pending before went out on welcome (or with an earlier
      // report) and is re-sent on the next connect until acknowledged.
      if (welcomed) send({ v: PROTOCOL_VERSION, type: 'events', events: [stored] });
    },
    async start(): Promise<void> {
      for (let attempt = 0; !stopped; attempt++) {
        const started = Date.now();
        let wait: number | undefined;
        try {
          wait = await connectOnce();
        } catch (err) {
          if (!stopped) opts.log(`cannot reach ${opts.credential.server}: ${(err as Error).message}`);
        }
        if (stopped) break;
        if (Date.now() - started > 60_000) attempt = 0; // it was up for a while: start the back-off over
        const backoff = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        // jitter: a restarted server is not hit by every agent at once
        await sleep(wait ?? backoff * (0.5 + Math.random() / 2), undefined, { signal: halt.signal }).catch(() => {});
      }
    },
    stop(): void {
      stopped = true;
      halt.abort();
      ws?.close(1000, 'agent stopping');
    },
  };
}
