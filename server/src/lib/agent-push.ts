/** What the server pushes to agents: commands and desired state, and the sweep that re-sends what a replica missed. */
import { toBase64 } from '@suture/shared/encoding';
import { PROTOCOL_VERSION, type ServerMessage } from '@suture/shared/protocol';
import type { DesiredService } from '../services/desired.service.ts';
import type { OperationService } from '../services/operation.service.ts';
import type { AgentHub } from './agent-hub.ts';

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

/**
 * Sends a group's desired state to its agents connected here that have an older one (after a
 * change on this replica, and from the sweep for changes made on another replica).
 */
export async function pushDesired(opts: { hub: AgentHub; desired: DesiredService; group: string }): Promise<number> {
  const d = await opts.desired.forGroup(opts.group);
  const behind = opts.hub.behind(opts.group, d.version);
  if (behind.length === 0) return 0;
  const m = desiredMessage(d);
  let sent = 0;
  for (const id of behind) if (opts.hub.send(id, m)) (opts.hub.markDesired(id, d.version), sent++);
  return sent;
}

/**
 * Every `everyMs`: re-sends what a replica missed for the agents held here — commands still
 * pending and not sent lately (created on another replica, or sent while the agent was
 * elsewhere), and desired states newer than what each agent was sent. Never overlaps itself.
 */
export function startSweep(opts: { hub: AgentHub; operations: OperationService; desired: DesiredService; everyMs: number; onError: (err: unknown) => void }): { stop(): void } {
  let running = false;
  const once = async () => {
    for (const c of await opts.operations.stale({ agentIds: opts.hub.connectedIds(), olderThanMs: 5000 }))
      if (opts.hub.send(c.agentId, commandMessage(c))) await opts.operations.markSent({ operationId: c.id, agentIds: [c.agentId] });
    const groups = opts.hub.connectedGroups();
    const versions = await opts.desired.versions(groups);
    for (const g of groups) if (opts.hub.behind(g, versions.get(g) ?? 0).length) await pushDesired({ hub: opts.hub, desired: opts.desired, group: g });
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    once()
      .catch(opts.onError)
      .finally(() => (running = false));
  }, opts.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
