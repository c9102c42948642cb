import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { encodeMessage, type ServerMessage } from '@suture/shared/protocol';

/** A server message encoded once, to be written to any number of sockets (as a text frame). */
export type Frame = Buffer & { readonly __frame: true };
export const frameOf = (m: ServerMessage): Frame => Buffer.from(encodeMessage(m)) as Frame;

const TEXT = { binary: false };

interface Connection {
  socket: WebSocket;
  group: string;
  /**
   * this connection's id, told to the other replicas so they close older ones of the agent:
   * ordered by when it was attached (base-36 ms, then random), so a note about an older socket
   * that arrives late never closes a newer one (replicas' clocks are assumed in step)
   */
  id: string;
  /** after hello: desired state and commands go out only then, after the welcome */
  ready: boolean;
  /** the newest desired-state version sent on this socket (-1: none) */
  desired: number;
  /** the command (operation) ids sent on this socket */
  commands: Set<string>;
}

/**
 * The agent sockets this replica holds, one per agent: a newer connection with the same agent
 * identity replaces the older one (closed with 4000), never both. It remembers what each socket
 * was sent, so pushes from notifications and the sweep send only what is missing.
 */
export function createAgentHub() {
  const conns = new Map<string, Connection>();
  const open = (agentId: string) => {
    const c = conns.get(agentId);
    return c && c.ready && c.socket.readyState === c.socket.OPEN ? c : undefined;
  };
  return {
    /** Registers `socket` for `agentId`, closing any previous one; returns the connection id. */
    attach(agentId: string, socket: WebSocket, group: string): string {
      const old = conns.get(agentId);
      const id = `${Date.now().toString(36).padStart(9, '0')}.${randomBytes(8).toString('hex')}`;
      conns.set(agentId, { socket, group, id, ready: false, desired: -1, commands: new Set() });
      if (old && old.socket !== socket) old.socket.close(4000, 'replaced by a newer connection of this agent');
      return id;
    },
    /** The agent said hello and was welcomed: pushes may go out from now on. */
    ready(agentId: string, socket: WebSocket): void {
      const c = conns.get(agentId);
      if (c?.socket === socket) c.ready = true;
    },
    detach(agentId: string, socket: WebSocket): void {
      if (conns.get(agentId)?.socket === socket) conns.delete(agentId);
    },
    /** Closes an agent's socket (revoked): 4001. */
    disconnect(agentId: string, reason: string): void {
      conns.get(agentId)?.socket.close(4001, reason);
    },
    /** Another replica took a newer connection of this agent: close ours if it is older than that one. */
    replacedElsewhere(agentId: string, connectionId: string): boolean {
      const c = conns.get(agentId);
      if (!c || c.id >= connectionId) return false; // ours is that one, or newer
      c.socket.close(4000, 'replaced by a newer connection of this agent');
      return true;
    },
    /** Sends to the agent if it is connected and welcomed here; says whether it was. */
    send(agentId: string, frame: Frame): boolean {
      const c = open(agentId);
      if (!c) return false;
      c.socket.send(frame, TEXT);
      return true;
    },
    /**
     * Sends a desired state only if it is newer than what this socket was sent: two pushes racing
     * (a notification and the sweep) never leave an agent with the older one last. `again`: the
     * agent asked (hello), so it gets it even if this socket had it.
     */
    sendDesired(agentId: string, frame: Frame, version: number, again = false): boolean {
      const c = open(agentId);
      if (!c || version < c.desired || (version === c.desired && !again)) return false;
      c.socket.send(frame, TEXT);
      c.desired = version;
      return true;
    },
    /** Sends a command unless this socket already got it (the agent de-duplicates anyway). */
    sendCommand(agentId: string, commandId: string, frame: Frame, again = false): boolean {
      const c = open(agentId);
      if (!c || (c.commands.has(commandId) && !again)) return false;
      c.socket.send(frame, TEXT);
      c.commands.add(commandId);
      return true;
    },
    /** Connected agents of `group` whose desired state is older than `version`. */
    behind(group: string, version: number): string[] {
      const out: string[] = [];
      for (const [id, c] of conns) if (c.ready && c.group === group && c.desired < version) out.push(id);
      return out;
    },
    hasGroup(group: string): boolean {
      for (const c of conns.values()) if (c.group === group) return true;
      return false;
    },
    connectedGroups(): string[] {
      return [...new Set([...conns.values()].filter((c) => c.ready).map((c) => c.group))];
    },
    /** Welcomed agents connected here. */
    connectedIds(): string[] {
      return [...conns].filter(([, c]) => c.ready).map(([id]) => id);
    },
    get size(): number {
      return conns.size;
    },
    closeAll(): void {
      for (const c of conns.values()) c.socket.close(1001, 'server shutting down');
      conns.clear();
    },
  };
}
export type AgentHub = ReturnType<typeof createAgentHub>;
