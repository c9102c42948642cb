import type { WebSocket } from 'ws';
import { encodeMessage, type ServerMessage } from '@suture/shared/protocol';

/**
 * The agent sockets this replica holds, one per agent: a newer connection with the same agent
 * identity replaces the older one (closed with 4000), never both.
 */
export function createAgentHub() {
  const sockets = new Map<string, WebSocket>();
  const groups = new Map<string, string>(); // agentId -> group
  const desiredSent = new Map<string, number>(); // agentId -> desired-state version it was sent
  return {
    /** Registers `socket` for `agentId`, closing any previous one. */
    attach(agentId: string, socket: WebSocket, group: string): void {
      const old = sockets.get(agentId);
      sockets.set(agentId, socket);
      groups.set(agentId, group);
      desiredSent.delete(agentId);
      if (old && old !== socket) old.close(4000, 'replaced by a newer connection of this agent');
    },
    detach(agentId: string, socket: WebSocket): void {
      if (sockets.get(agentId) !== socket) return;
      sockets.delete(agentId);
      groups.delete(agentId);
      desiredSent.delete(agentId);
    },
    /** Closes an agent's socket (revoked): 4001. */
    disconnect(agentId: string, reason: string): void {
      sockets.get(agentId)?.close(4001, reason);
    },
    /** Sends to the agent if it is connected here; says whether it was. */
    send(agentId: string, message: ServerMessage): boolean {
      const s = sockets.get(agentId);
      if (!s || s.readyState !== s.OPEN) return false;
      s.send(encodeMessage(message));
      return true;
    },
    /** Connected agents of `group` whose desired state is older than `version`. */
    behind(group: string, version: number): string[] {
      return [...groups].filter(([id, g]) => g === group && (desiredSent.get(id) ?? -1) < version).map(([id]) => id);
    },
    markDesired(agentId: string, version: number): void {
      if (sockets.has(agentId)) desiredSent.set(agentId, Math.max(version, desiredSent.get(agentId) ?? -1));
    },
    connectedGroups(): string[] {
      return [...new Set(groups.values())];
    },
    connectedIds(): string[] {
      return [...sockets.keys()];
    },
    get size(): number {
      return sockets.size;
    },
    closeAll(): void {
      for (const s of sockets.values()) s.close(1001, 'server shutting down');
      sockets.clear();
    },
  };
}
export type AgentHub = ReturnType<typeof createAgentHub>;
