/**
 * What the server pushes to agents, across replicas: commands and desired state. A change made
 * here is sent at once to the agents held here and NOTIFYed (ids only) to every replica, which
 * sends it to the agents it holds. The sweep is the safety net for a lost notification.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toBase64 } from '@suture/shared/encoding';
import { PROTOCOL_VERSION, type ServerMessage } from '@suture/shared/protocol';
import type { Notifications } from '../db/index.ts';
import type { DesiredService } from '../services/desired.service.ts';
import type { OperationService } from '../services/operation.service.ts';
import { frameOf, type AgentHub, type Frame } from './agent-hub.ts';
import { createBatcher, type Batcher } from './batcher.ts';

export const AGENT_CHANNEL = 'suture_agents';

export const commandMessage = (c: { id: string; patchId: string }): ServerMessage => ({ v: PROTOCOL_VERSION, type: 'command', id: c.id, kind: 'unapply', patchId: c.patchId });

export function desiredMessage(d: Awaited<ReturnType<DesiredService['forGroup']>>): ServerMessage {
  return {
    v: PROTOCOL_VERSION,
    type: 'desired',
    state: { version: d.version, enabled: d.enabled },
    patches: d.envelopes.map((e) => ({ id: e.id, envelope: toBase64(e.envelope) })),
    manifests: d.manifests.map((m) => ({ module: m.module, envelope: toBase64(m.envelope) })),
    roots: d.roots.map(toBase64),
  };
}

/** What replicas tell each other (ids only: NOTIFY payloads are capped at 8000 bytes). */
type Note =
  | { r: string; t: 'desired'; g: string }
  | { r: string; t: 'command'; op: string }
  | { r: string; t: 'revoked'; a: string }
  /** agents that connected here: [agent id, connection id] pairs, several to a note */
  | { r: string; t: 'connected'; c: [string, string][] };

/** Connections told per 'connected' note: ~80 bytes each, well under the 8000-byte payload cap. */
const CONNECTED_PER_NOTE = 80;
/** How long connections are gathered into one note (a reconnect storm is thousands a second). */
const CONNECTED_GATHER_MS = 5;
/** How long a group's desired-state frame is reused while its version stays the same. */
const DESIRED_REUSE_MS = 5_000;
type NoteBody = Note extends infer N ? (N extends Note ? Omit<N, 'r'> : never) : never;

function parseNote(payload: string): Note | undefined {
  try {
    const n = JSON.parse(payload) as Note;
    return n && typeof n.r === 'string' && typeof n.t === 'string' ? n : undefined;
  } catch {
    return undefined;
  }
}

export interface AgentPushDeps {
  hub: AgentHub;
  desired: DesiredService;
  operations: OperationService;
  notifications: Notifications;
  log: Logger;
}

export function createAgentPush({ hub, desired, operations, notifications, log }: AgentPushDeps) {
  /** This replica's id: its own notifications come back to it and are ignored. */
  const replica = randomUUID();

  const notify = (body: NoteBody) =>
    notifications.notify(AGENT_CHANNEL, JSON.stringify({ r: replica, ...body })).catch((err: unknown) =>
      // The change itself is committed; the other replicas' sweep delivers it.
      log.warn({ err: { message: (err as Error).message }, note: body.t }, 'could not notify the other replicas'),
    );

  /**
   * Hellos of one group coming together share one read of its desired state and one query for
   * their pending commands (a reconnect storm is thousands of hellos). A read always starts
   * after the hellos it serves arrived, so none of them gets a state older than its welcome.
   */
  type HelloState = { frame: Frame; version: number; pending: Map<string, { id: string; patchId: string }[]> };
  const helloReads = new Map<string, Batcher<string, HelloState>>();
  const helloState = (group: string, agentId: string): Promise<HelloState> => {
    let b = helloReads.get(group);
    if (!b) {
      b = createBatcher<string, HelloState>({
        maxBatch: 5000,
        async flush(agentIds) {
          const d = await desiredFrame(group);
          return { frame: d.frame, version: d.version, pending: await operations.pendingFor(agentIds) };
        },
      });
      helloReads.set(group, b);
    }
    return b.add(agentId);
  };

  /**
   * A group's desired-state frame, read again only when its version moved or it is a few
   * seconds old (its manifests are re-signed long before they expire): in a reconnect storm,
   * each batch of hellos then costs one version read instead of reading every enabled patch,
   * manifest and root again; pushes to agents behind share it too. The version is read before
   * the state, as in forGroup.
   */
  const desiredFrames = new Map<string, { version: number; frame: Frame; at: number }>();
  async function desiredFrame(group: string): Promise<{ version: number; frame: Frame }> {
    const version = (await desired.versions([group])).get(group) ?? 0;
    const cached = desiredFrames.get(group);
    if (cached && cached.version === version && Date.now() - cached.at < DESIRED_REUSE_MS) return cached;
    const d = await desired.forGroup(group);
    const fresh = { version: d.version, frame: frameOf(desiredMessage(d)), at: Date.now() };
    desiredFrames.set(group, fresh);
    return fresh;
  }

  let connecting: [string, string][] = [];
  let gather: NodeJS.Timeout | undefined;
  function tellConnected(): void {
    clearTimeout(gather);
    gather = undefined;
    for (let i = 0; i < connecting.length; i += CONNECTED_PER_NOTE) void notify({ t: 'connected', c: connecting.slice(i, i + CONNECTED_PER_NOTE) });
    connecting = [];
  }

  /** Sends a group's desired state to its agents held here that have an older one. */
  async function pushDesired(group: string): Promise<number> {
    if (!hub.hasGroup(group)) return 0;
    const d = await desiredFrame(group);
    const behind = hub.behind(group, d.version);
    if (behind.length === 0) return 0;
    let sent = 0;
    for (const id of behind) if (hub.sendDesired(id, d.frame, d.version)) sent++;
    return sent;
  }

  /**
   * Sends commands to the agents held here that were not sent them on their current socket,
   * each command encoded once for all its sockets. The hub remembers what each socket was sent:
   * nothing is written to the database (the acknowledgements are, and they follow at once).
   */
  function sendCommands(commands: { agentId: string; id: string; patchId: string }[], again = false): string[] {
    const frames = new Map<string, Frame>();
    const sent: string[] = [];
    for (const c of commands) {
      let frame = frames.get(c.id);
      if (!frame) frames.set(c.id, (frame = frameOf(commandMessage(c))));
      if (hub.sendCommand(c.agentId, c.id, frame, again)) sent.push(c.agentId);
    }
    return sent;
  }

  /** One pass of the safety net: every pending command and newer desired state the agents here miss. */
  async function sweep(): Promise<void> {
    const ids = hub.connectedIds();
    if (ids.length === 0) return;
    sendCommands(await operations.pendingAmong(ids));
    const groups = hub.connectedGroups();
    const versions = await desired.versions(groups);
    for (const g of groups) if (hub.behind(g, versions.get(g) ?? 0).length) await pushDesired(g);
  }

  async function onNote(n: Note): Promise<void> {
    if (n.r === replica) return;
    switch (n.t) {
      case 'desired':
        if (typeof n.g === 'string') await pushDesired(n.g);
        return;
      case 'command': {
        const ids = hub.connectedIds();
        if (typeof n.op === 'string' && ids.length) sendCommands(await operations.pendingOf({ operationId: n.op, agentIds: ids }));
        return;
      }
      case 'revoked':
        if (typeof n.a === 'string') hub.disconnect(n.a, 'agent revoked');
        return;
      case 'connected':
        if (!Array.isArray(n.c)) return;
        for (const pair of n.c) {
          if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') continue;
          if (hub.replacedElsewhere(pair[0], pair[1])) log.debug({ agentId: pair[0] }, 'agent connected to another replica; closed its older socket here');
        }
        return;
    }
  }

  return {
    replica,
    pushDesired,
    sweep,
    /** A NOTIFY payload from the listener. */
    onPayload(payload: string): void {
      const n = parseNote(payload);
      if (!n) return void log.warn('ignored a malformed notification');
      onNote(n).catch((err: unknown) => log.warn({ err, note: n.t }, 'could not act on a notification'));
    },

    /** A group's desired state changed (committed): push here, tell the others. Returns how many agents here got it. */
    async desiredChanged(group: string): Promise<number> {
      void notify({ t: 'desired', g: group });
      return pushDesired(group);
    },

    /** A command was created (committed) for `agentIds`: send it to those held here, tell the others. */
    async commandIssued(op: { id: string; patchId: string; agentIds: string[] }): Promise<string[]> {
      void notify({ t: 'command', op: op.id });
      return sendCommands(op.agentIds.map((agentId) => ({ agentId, id: op.id, patchId: op.patchId })));
    },

    /** An agent was revoked (committed): close its socket wherever it is. */
    revoked(agentId: string): void {
      hub.disconnect(agentId, 'agent revoked');
      void notify({ t: 'revoked', a: agentId });
    },

    /**
     * An agent connected here: a replica holding an older socket of it closes that one. Told a
     * few ms later, together with the others connecting meanwhile (a storm is not one query each).
     */
    connected(agentId: string, connectionId: string): void {
      connecting.push([agentId, connectionId]);
      if (connecting.length >= CONNECTED_PER_NOTE) tellConnected();
      else gather ??= setTimeout(tellConnected, CONNECTED_GATHER_MS).unref();
    },

    /** The hello reconciliation: the group's state and every pending command, on this socket. */
    async reconcile(agentId: string, group: string): Promise<void> {
      const s = await helloState(group, agentId);
      hub.sendDesired(agentId, s.frame, s.version, true);
      sendCommands((s.pending.get(agentId) ?? []).map((c) => ({ agentId, ...c })), true);
    },

    /** Runs `sweep` every `everyMs` (never overlapping itself) until stopped. */
    startSweep(opts: { everyMs: number }): { stop(): void } {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        sweep()
          .catch((err: unknown) => log.warn({ err }, 'agent sweep failed'))
          .finally(() => (running = false));
      }, opts.everyMs);
      timer.unref();
      return { stop: () => clearInterval(timer) };
    },
  };
}
export type AgentPush = ReturnType<typeof createAgentPush>;
