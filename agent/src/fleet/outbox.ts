import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent } from '@suture/shared/protocol';
import type { PatchEvent } from '../patching/patch-manager.ts';

/**
 * Reports not yet acknowledged by the server, on disk (atomic rewrite), so none is lost when
 * the agent restarts or the server is unreachable. Each event gets its id once, here: a resend
 * carries the same id and the server stores it once.
 */
export function createOutbox(stateDir: string, opts: { max?: number } = {}) {
  const file = join(stateDir, 'outbox.json');
  const max = opts.max ?? 100_000;
  let events: AgentEvent[] = [];
  try {
    events = JSON.parse(readFileSync(file, 'utf8')) as AgentEvent[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the outbox ${file}: ${(err as Error).message}; move it aside to start afresh`);
  }
  const save = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(events), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  };
  function add(e: Omit<AgentEvent, 'id' | 'at'>): AgentEvent {
    const event = { id: randomUUID(), at: new Date().toISOString(), ...e } as AgentEvent;
    events.push(event);
    if (events.length > max) events.splice(0, events.length - max); // bounded: the oldest go first
    save();
    return event;
  }
  return {
    /** An engine outcome as a report; `commandId` when it answers a server command. */
    addOutcome(e: PatchEvent, commandId?: string): AgentEvent {
      return add({ type: e.type, patchId: e.patchId, pid: e.pid, reason: e.reason, detail: e.detail?.slice(0, 2000), ...(commandId ? { commandId } : {}) });
    },
    pending: (): readonly AgentEvent[] => events,
    acknowledge(ids: string[]): void {
      const done = new Set(ids);
      const before = events.length;
      events = events.filter((e) => !done.has(e.id));
      if (events.length !== before) save();
    },
  };
}
export type Outbox = ReturnType<typeof createOutbox>;
