import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { encodeMessage, parseMessage, PROTOCOL_VERSION, type AgentMessage, type ServerMessage } from '@suture/shared/protocol';
import { unauthorized, unavailable } from '../../../lib/errors.ts';
import type { AgentPrincipal } from '../../../services/agent.service.ts';

const HEARTBEAT_SECONDS = 15;

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentPrincipal;
  }
}

/**
 * One WebSocket per agent at /api/v1/agents/socket. The upgrade is authenticated with the agent
 * JWT (`Authorization: Bearer`), refused with 401 before any socket exists. Every frame is
 * validated (shared parser); a bad frame gets an `error` message and the socket is closed
 * (4002), so a confused agent reconnects and starts over from state.
 */
export const agentSocketRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/agents/socket',
    {
      websocket: true,
      config: { public: true },
      schema: { tags: ['agents'], summary: 'The agent WebSocket (protocol in @suture/shared/protocol); authenticate with the agent token', hide: true },
      preValidation: async (req: FastifyRequest) => {
        const h = req.headers.authorization;
        const agent = h?.startsWith('Bearer ') ? await app.services.agents.authenticate(h.slice(7)) : null;
        if (!agent) throw unauthorized('an agent token is required: POST /api/v1/agents/session with the agent credential');
        // Shed load before taking a socket: the agent backs off and tries again (another replica, later).
        if (app.agentHub.size >= app.config.maxAgentSockets) throw unavailable(`this server holds ${app.agentHub.size} agent connections, its maximum; retry later`, 'overloaded');
        req.agent = agent;
      },
    },
    (socket: WebSocket, req: FastifyRequest) => {
      const agent = req.agent!;
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
        void app.services.fleet.seen(agent.agentId).catch(() => {});
      }, HEARTBEAT_SECONDS * 1000);
      let connectedAt: Date | undefined; // this socket's hello stamp
      socket.on('close', (code) => {
        clearInterval(beat);
        app.agentHub.detach(agent.agentId, socket);
        if (connectedAt) void app.services.agentStatus.disconnected(agent.agentId, connectedAt).catch((err) => log.warn({ err }, 'could not record the disconnect'));
        log.info({ code }, 'agent disconnected');
      });
      // One socket per agent: an older one here is closed now, one on another replica on notice.
      app.agentPush.connected(agent.agentId, app.agentHub.attach(agent.agentId, socket, agent.group));
      log.info('agent connected');

      // One message at a time, in order: events are acknowledged only once stored.
      let chain = Promise.resolve();
      socket.on('message', (data: Buffer) => {
        const parsed = parseMessage('agent', data);
        if (!parsed.ok) {
          log.info({ code: parsed.code, detail: parsed.detail }, 'agent sent a bad message');
          send({ v: PROTOCOL_VERSION, type: 'error', code: parsed.code, message: parsed.detail });
          socket.close(4002, parsed.code);
          return;
        }
        chain = chain.then(() => handle(parsed.message)).catch((err) => {
          log.error({ err }, 'agent message failed');
          send({ v: PROTOCOL_VERSION, type: 'error', code: 'internal', message: 'the server could not process that message; it will be retried after reconnecting' });
          socket.close(1011, 'internal error');
        });
      });

      async function handle(m: AgentMessage): Promise<void> {
        switch (m.type) {
          case 'hello':
            await app.services.fleet.hello({ agentId: agent.agentId, hostname: m.hostname, os: m.os, arch: m.arch, version: m.agentVersion });
            connectedAt = await app.services.agentStatus.connected(agent.agentId);
            send({ v: PROTOCOL_VERSION, type: 'welcome', agentId: agent.agentId, group: agent.group, heartbeatSeconds: HEARTBEAT_SECONDS });
            // From now on pushes reach this socket; then reconcile: the group's desired state,
            // whatever the agent had, and every command it has not acknowledged yet, again.
            app.agentHub.ready(agent.agentId, socket);
            await app.agentPush.reconcile(agent.agentId, agent.group);
            return;
          case 'inventory':
            return app.services.fleet.recordInventory(agent.agentId, m);
          case 'patch-status':
            return app.services.agentStatus.recordPatchStatus(agent.agentId, m.patches);
          case 'events':
            send({ v: PROTOCOL_VERSION, type: 'events-ack', ids: await app.services.fleet.recordEvents(agent.agentId, m.events) });
            app.siem.notify(); // SIEM sinks pick them up now rather than at their next poll
            return;
          case 'renew-token': {
            // Re-checked: a revoked agent gets nothing, and its socket is closed.
            if (!(await app.services.agents.active(agent.agentId))) return void socket.close(4001, 'agent revoked');
            const t = app.services.agents.issue(agent);
            send({ v: PROTOCOL_VERSION, type: 'token', token: t.token, expiresAt: t.expiresAt });
            return;
          }
          case 'command-ack':
            await app.services.operations.acknowledge({ operationId: m.commandId, agentId: agent.agentId, outcome: m.outcome, detail: m.detail });
            return;
        }
      }
    },
  );
};
