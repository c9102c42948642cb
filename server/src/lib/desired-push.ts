import { toBase64 } from '@suture/shared/encoding';
import { PROTOCOL_VERSION, type ServerMessage } from '@suture/shared/protocol';
import type { DesiredService } from '../services/desired.service.ts';
import type { AgentHub } from './agent-hub.ts';

export function desiredMessage(d: Awaited<ReturnType<DesiredService['forGroup']>>): ServerMessage {
  return { v: PROTOCOL_VERSION, type: 'desired', state: { version: d.version, enabled: d.enabled }, patches: d.envelopes.map((e) => ({ id: e.id, envelope: toBase64(e.envelope) })) };
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
