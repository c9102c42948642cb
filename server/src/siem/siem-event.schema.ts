import Type, { type Static } from 'typebox';

/** Every outcome an agent reports (shared/src/schemas/protocol.ts `EventType`). */
export const SIEM_EVENT_TYPES = ['applied', 'unapplied', 'refused', 'busy', 'failed', 'crash', 'adopted'] as const;
export type SiemEventType = (typeof SIEM_EVENT_TYPES)[number];

export type PatchSeverity = 'low' | 'medium' | 'high' | 'critical';

/**
 * One stored agent event as the SIEM sinks see it: the AgentEvent row joined with its agent
 * (hostname, group) and its patch (CVEs, severity). The join is the caller's job; fields it
 * cannot fill are left out or null, and every formatter omits them.
 */
export interface SiemEvent {
  /** AgentEvent.seq as a decimal string (a BigInt in the database): the delivery cursor. */
  seq: string;
  /** The agent's event id (uuid), stable across the agent's re-sends: receivers de-duplicate on it. */
  id: string;
  type: SiemEventType;
  agentId: string;
  hostname?: string | null;
  group?: string | null;
  patchId: string;
  cves?: readonly string[] | null;
  /** The patch's severity (from its signed document), not the event's. */
  severity?: PatchSeverity | null;
  /** The process the outcome is about (0 when it is about no single process). */
  pid: number;
  reason?: string | null;
  detail?: string | null;
  /** The operation (e.g. a fleet-wide unapply) this outcome answers. */
  commandId?: string | null;
  /** When it happened, by the agent's clock (ISO 8601). */
  at: string;
  /** When the server stored it (ISO 8601). */
  receivedAt: string;
}

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

/**
 * One event in a webhook body. Field names are stable within schema `suture.siem.events/v1`:
 * a new field may be added, none is renamed or removed, and every field is always present
 * (null when unknown) so receivers can map columns once.
 */
export const WebhookEvent = Type.Object(
  {
    seq: Type.String({ pattern: '^[0-9]{1,20}$', description: 'server-wide order of stored events (decimal)' }),
    id: Type.String({ description: "the agent's event id (uuid); de-duplicate on it" }),
    type: Type.Union([
      Type.Literal('applied'),
      Type.Literal('unapplied'),
      Type.Literal('refused'),
      Type.Literal('busy'),
      Type.Literal('failed'),
      Type.Literal('crash'),
      Type.Literal('adopted'),
    ]),
    agentId: Type.String(),
    hostname: Nullable(Type.String()),
    group: Nullable(Type.String()),
    patchId: Type.String(),
    cves: Type.Array(Type.String(), { description: 'empty when unknown or none' }),
    severity: Nullable(Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')])),
    pid: Type.Integer({ minimum: 0 }),
    reason: Nullable(Type.String()),
    detail: Nullable(Type.String()),
    commandId: Nullable(Type.String()),
    at: Type.String({ format: 'date-time' }),
    receivedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type WebhookEvent = Static<typeof WebhookEvent>;

export const WEBHOOK_SCHEMA = 'suture.siem.events/v1';

/** The JSON body of every webhook POST. */
export const WebhookBody = Type.Object(
  {
    schema: Type.Literal(WEBHOOK_SCHEMA),
    /** Same value as the Idempotency-Key header; the same batch keeps it on every retry. */
    batchId: Type.String({ pattern: '^[0-9a-f]{32}$' }),
    /** The sink (its configured name) that sent it. */
    sink: Type.String(),
    /** When this batch was first built (unchanged on retries, so the signed body is too). */
    createdAt: Type.String({ format: 'date-time' }),
    /** In ascending seq order, at least one. */
    events: Type.Array(WebhookEvent, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type WebhookBody = Static<typeof WebhookBody>;

export function toWebhookEvent(e: SiemEvent): WebhookEvent {
  return {
    seq: e.seq,
    id: e.id,
    type: e.type,
    agentId: e.agentId,
    hostname: e.hostname ?? null,
    group: e.group ?? null,
    patchId: e.patchId,
    cves: [...(e.cves ?? [])],
    severity: e.severity ?? null,
    pid: e.pid,
    reason: e.reason ?? null,
    detail: e.detail ?? null,
    commandId: e.commandId ?? null,
    at: e.at,
    receivedAt: e.receivedAt,
  };
}
