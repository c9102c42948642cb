/**
 * Parsing WebSocket messages, the same on both sides: size cap before anything else, JSON,
 * protocol version, then the schema of the direction. Never throws.
 */
import { createHash } from 'node:crypto';
import { Compile } from 'typebox/compile';
import { AgentMessage, type InventoryModule, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMessage } from '../schemas/protocol.ts';

export * from '../schemas/protocol.ts';

const checkers = { agent: Compile(AgentMessage), server: Compile(ServerMessage) };
type MessageOf<D extends 'agent' | 'server'> = D extends 'agent' ? AgentMessage : ServerMessage;

export type ParsedMessage<D extends 'agent' | 'server'> =
  | { ok: true; message: MessageOf<D> }
  | { ok: false; code: 'too-large' | 'not-json' | 'unsupported-version' | 'invalid'; detail: string };

/** Parses a frame sent by `from` (an agent's frame on the server, the server's on an agent). */
export function parseMessage<D extends 'agent' | 'server'>(from: D, frame: string | Uint8Array): ParsedMessage<D> {
  const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
  if (size > MAX_MESSAGE_BYTES) return { ok: false, code: 'too-large', detail: `${size} bytes; at most ${MAX_MESSAGE_BYTES}` };
  let value: unknown;
  try {
    // A view of the frame's bytes, not a copy (a server takes in thousands of frames a second).
    value = JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  } catch {
    return { ok: false, code: 'not-json', detail: 'the frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: 'invalid', detail: 'a message is a JSON object' };
  const v = (value as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) return { ok: false, code: 'unsupported-version', detail: `protocol version ${JSON.stringify(v)}; this side speaks ${PROTOCOL_VERSION}` };
  const checker = checkers[from];
  if (!checker.Check(value)) {
    const first = [...checker.Errors(value)][0];
    return { ok: false, code: 'invalid', detail: `${String((value as { type?: unknown }).type)}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the schema'}` };
  }
  return { ok: true, message: value as MessageOf<D> };
}

/** Serializes a message (typed by direction, so a wrong shape does not compile). */
export const encodeMessage = (m: AgentMessage | ServerMessage): string => JSON.stringify(m);

/**
 * The digest of a whole inventory (the modules with processes, in any order): a reconnecting
 * agent puts it in its hello, and skips the full inventory when the server has stored the same.
 */
export function inventoryDigest(modules: Iterable<InventoryModule>): string {
  const lines = [...modules].filter((m) => m.processes > 0).map((m) => JSON.stringify([m.sha256, m.processes, m.name]));
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}
