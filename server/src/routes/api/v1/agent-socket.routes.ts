import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { encodeMessage, parseMessage, PROTOCOL_VERSION, type AgentMessage, type ServerMessage } from '@suture/shared/protocol';
import { createAckDeferral } from '../../../lib/deferred-acks.ts';
import { AppError, unauthorized, unavailable } from '../../../lib/errors.ts';
import type { AgentPrincipal } from '../../../services/agent.service.ts';

const HEARTBEAT_SECONDS = 15;
/** Messages of one agent taken but not answered or stored yet; beyond this its socket is paused. */
const MAX_UNANSWERED = 64;
/** Stored events are acknowledged once the writes in progress are done, or after this at the latest. */
const EVENTS_ACK_MAX_DELAY_MS = 1000;
/** A shed agent is told to come back after 2 to 8 s, spread so the retries do not arrive together. */
const shedRetryAfterSeconds = () => 2 + Math.floor(Math.random() * 7);

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentPrincipal;
    /** Frees this connection's set-up slot (idempotent): once welcomed and reconciled, or gone. */
    connected?: () => void;
  }
}

/**
 * One WebSocket per agent at /api/v1/agents/socket. The upgrade is authenticated with the agent
 * JWT (`Authorization: Bearer`), refused with 401 before any socket exists. Every frame is
 * validated (shared parser); a bad frame gets an `error` message and the socket is closed
 * (4002), so a confused agent reconnects and starts over from state. Load is shed with 503 and a
 * jittered Retry-After before any socket exists: when MAX_AGENT_CONNECTS connections are being set
 * up at once, when an upgrade waited AGENT_UPGRADE_QUEUE_SECONDS in the queue before the server got
 * to it, or when MAX_AGENT_SOCKETS are held. A socket that sends no hello within
 * AGENT_HELLO_SECONDS is closed (4008).
 */
export const agentSocketRoutes: FastifyPluginAsync = async (app) => {
  /** Connections being set up here (upgrade until welcome and reconcile): at most MAX_AGENT_CONNECTS. */
  let connecting = 0;
  /**
   * When each connection was accepted, until it serves its first request: an upgrade that
   * waited long in the queue is shed (AGENT_UPGRADE_QUEUE_SECONDS). A connection that served an
   * ordinary request first (keep-alive) has no stamp and is never taken for queued.
   */
  const accepted = new WeakMap<object, number>();
  app.server.on('connection', (s) => accepted.set(s, Date.now()));
  app.server.on('request', (r) => accepted.delete(r.socket));
  // Low priority: an agent keeps unacknowledged events on disk, nothing waits for the ack.
  const eventsAcks = createAckDeferral<WebSocket>({ idle: () => app.services.ingest.drain(), maxDelayMs: EVENTS_ACK_MAX_DELAY_MS, maxIds: 1000 });
  app.get(
    '/agents/socket',
    {
      websocket: true,
      config: { public: true },
      schema: { tags: ['agents'], summary: 'The agent WebSocket (protocol in @suture/shared/protocol); authenticate with the agent token', hide: true },
      preValidation: async (req: FastifyRequest) => {
        // Shed load before any work and before taking a socket: the agent comes back after
        // Retry-After (here or at another replica). Too many set-ups at once is checked first:
        // refusing costs almost nothing, while an upgrade that waits behind thousands of others
        // times out and comes back anyway, as more load.
        const queuedMs = Date.now() - (accepted.get(req.raw.socket) ?? Date.now());
        accepted.delete(req.raw.socket);
        if (queuedMs >= app.config.agentUpgradeQueueSeconds * 1000)
          throw unavailable(`this upgrade waited ${Math.round(queuedMs / 100) / 10} s behind others before this server could take it; retry after the Retry-After seconds`, 'overloaded', shedRetryAfterSeconds());
        if (connecting >= app.config.maxAgentConnects)
          throw unavailable(`this server is setting up ${connecting} agent connections, its maximum at once; retry after the Retry-After seconds`, 'overloaded', shedRetryAfterSeconds());
        connecting++;
        let held = true;
        const release = () => {
          if (held) (held = false), connecting--;
        };
        req.raw.socket.once('close', release); // whatever happens to the upgrade, a closed connection frees its slot
        try {
          const h = req.headers.authorization;
          const agent = h?.startsWith('Bearer ') ? await app.services.agents.authenticate(h.slice(7)) : null;
          if (!agent) throw unauthorized('an agent token is required: POST /api/v1/agents/session with the agent credential');
          if (app.agentHub.size >= app.config.maxAgentSockets) throw unavailable(`this server holds ${app.agentHub.size} agent connections, its maximum; retry later`, 'overloaded', shedRetryAfterSeconds());
          req.agent = agent;
          req.connected = release;
        } catch (err) {
          release();
          throw err;
        }
      },
    },
    (socket: WebSocket, req: FastifyRequest) => {
      const agent = req.agent!;
      const { ingest } = app.services;
      const log = req.log.child({ agentId: agent.agentId });
      // Listeners first, before any await: nothing the agent sends is missed or unhandled.
      socket.on('error', (err) => log.warn({ err }, 'agent socket error'));
      const send = (m: ServerMessage) => socket.readyState === socket.OPEN && socket.send(encodeMessage(m));
      let alive = true;
      socket.on('pong', () => (alive = true));
      const beat = setInterval(() => {
        if (!alive) return void socket.terminate(); // missed a whole heartbeat
        alive = false;
        socket.ping();
        void ingest.seen(agent.agentId).catch(() => {});
      }, HEARTBEAT_SECONDS * 1000);
      let hello: Promise<{ at: Date; inventoryCurrent: boolean }> | undefined; // this socket's hello stamp, once stored
      const helloBy = setTimeout(() => socket.close(4008, 'no hello'), app.config.agentHelloSeconds * 1000);
      socket.on('close', (code) => {
        clearInterval(beat);
        clearTimeout(helloBy);
        req.connected?.();
        app.agentHub.detach(agent.agentId, socket);
        // After the hello's own write: the disconnect matches that stamp.
        hello?.then(({ at }) => ingest.disconnected(agent.agentId, at)).catch((err) => log.warn({ err }, 'could not record the disconnect'));
        log.debug({ code }, 'agent disconnected');
      });
      // One socket per agent: an older one here is closed now, one on another replica on notice.
      app.agentPush.connected(agent.agentId, app.agentHub.attach(agent.agentId, socket, agent.group));
      log.debug('agent connected');

      const fail = (err: unknown) => {
        if (err instanceof AppError && err.status === 400) {
          send({ v: PROTOCOL_VERSION, type: 'error', code: 'invalid', message: err.message });
          return void socket.close(4002, 'invalid');
        }
        log.error({ err }, 'agent message failed');
        if (socket.readyState !== socket.OPEN) return;
        send({ v: PROTOCOL_VERSION, type: 'error', code: 'internal', message: 'the server could not process that message; it will be retried after reconnecting' });
        socket.close(1011, 'internal error');
      };
      // Messages are taken one at a time, in order; what is only stored is queued for the next
      // group commit and the next message is taken at once (queued in order, stored in order).
      // Events are acknowledged only once stored. Too much unanswered from one agent pauses it.
      let chain = Promise.resolve();
      let unanswered = 0;
      const settle = () => {
        if (--unanswered === MAX_UNANSWERED - 1) socket.resume();
      };
      socket.on('message', (data: Buffer) => {
        const parsed = parseMessage('agent', data);
        if (!parsed.ok) {
          log.info({ code: parsed.code, detail: parsed.detail }, 'agent sent a bad message');
          send({ v: PROTOCOL_VERSION, type: 'error', code: parsed.code, message: parsed.detail });
          socket.close(4002, parsed.code);
          return;
        }
        if (++unanswered === MAX_UNANSWERED) socket.pause();
        chain = chain
          .then(() => handle(parsed.message))
          .then(
            (queued) => {
              if (!queued) return settle();
              writes.add(queued.stored);
              queued.stored.then(settle, (err: unknown) => (settle(), fail(err))).finally(() => writes.delete(queued.stored));
            },
            (err: unknown) => (settle(), fail(err)),
          );
      });

      /** A write queued for the next group commit: the next message is taken without waiting for it. */
      type Queued = { stored: Promise<unknown> };
      const writes = new Set<Promise<unknown>>();
      /** The rest is answered after what came before it is stored. */
      const stored = () => Promise.allSettled([...writes]);

      async function handle(m: AgentMessage): Promise<Queued | void> {
        switch (m.type) {
          case 'hello': {
            clearTimeout(helloBy);
            await stored();
            hello = ingest.hello({ agentId: agent.agentId, hostname: m.hostname, os: m.os, arch: m.arch, version: m.agentVersion, inventoryDigest: m.inventoryDigest });
            const { inventoryCurrent } = await hello;
            send({ v: PROTOCOL_VERSION, type: 'welcome', agentId: agent.agentId, group: agent.group, heartbeatSeconds: HEARTBEAT_SECONDS, inventoryCurrent });
            // From now on pushes reach this socket; then reconcile: the group's desired state,
            // whatever the agent had, and every command it has not acknowledged yet, again.
            app.agentHub.ready(agent.agentId, socket);
            await app.agentPush.reconcile(agent.agentId, agent.group).finally(() => req.connected?.());
            return;
          }
          case 'inventory':
            return { stored: ingest.inventory(agent.agentId, m) };
          case 'patch-status':
            return { stored: ingest.patchStatus(agent.agentId, m.patches) };
          case 'events': {
            const stored = ingest.events(agent.agentId, m.events).then((ids) => {
              eventsAcks.add(socket, ids, (ids) => send({ v: PROTOCOL_VERSION, type: 'events-ack', ids }));
              app.siem.notify(); // SIEM sinks pick them up now rather than at their next poll
            });
            return { stored };
          }
          case 'renew-token': {
            // Re-checked: a revoked agent gets nothing, and its socket is closed.
            await stored();
            if (!(await app.services.agents.active(agent.agentId))) return void socket.close(4001, 'agent revoked');
            const t = app.services.agents.issue(agent);
            send({ v: PROTOCOL_VERSION, type: 'token', token: t.token, expiresAt: t.expiresAt });
            return;
          }
          case 'command-ack':
            return { stored: ingest.acknowledge({ operationId: m.commandId, agentId: agent.agentId, outcome: m.outcome, detail: m.detail }) };
        }
      }
    },
  );
};
