import Type, { type Static } from 'typebox';
import { Arch, Base64, IsoTime, PatchId, Platform, Sha256Hex } from './common.ts';
import { DesiredState } from './desired-state.ts';

/**
 * The agent <-> server WebSocket protocol. Every message is one JSON object with the protocol
 * version `v` and a `type`; both sides validate every message on arrival (parseMessage) and
 * refuse unknown versions, unknown types, extra fields and oversized frames. Delivery of
 * events and commands is at-least-once with ids; the receiver de-duplicates and acknowledges.
 */
export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts (an inventory of ~20,000 modules fits). */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

const V = Type.Literal(PROTOCOL_VERSION);
const Uuid = Type.String({ format: 'uuid' });
const msg = <T extends string, P extends Type.TProperties>(type: T, props: P) =>
  Type.Object({ v: V, type: Type.Literal(type), ...props }, { additionalProperties: false });

// ---- agent -> server ----

export const Hello = msg('hello', {
  agentVersion: Type.String({ minLength: 1, maxLength: 50 }),
  os: Platform,
  arch: Arch,
  hostname: Type.String({ minLength: 1, maxLength: 253 }),
  /** the desired-state version the agent enforces now (0: none yet) */
  desiredVersion: Type.Integer({ minimum: 0 }),
  /** inventoryDigest() of the modules the agent has now; the welcome says whether the server holds exactly that */
  inventoryDigest: Type.Optional(Sha256Hex),
});

export const InventoryModule = Type.Object(
  { sha256: Sha256Hex, name: Type.String({ maxLength: 255 }), processes: Type.Integer({ minimum: 0, maximum: 1_000_000 }) },
  { additionalProperties: false },
);
/** `full`: the whole set (replaces what the server has); otherwise only what changed (`processes: 0` removes). */
export type InventoryModule = Static<typeof InventoryModule>;
export const Inventory = msg('inventory', {
  full: Type.Boolean(),
  modules: Type.Array(InventoryModule, { maxItems: 20_000 }),
  /** inventoryDigest() of the agent's whole set once this message is applied (absent: not complete yet) */
  digest: Type.Optional(Sha256Hex),
});

export const EventType = Type.Union([
  Type.Literal('applied'),
  Type.Literal('unapplied'),
  Type.Literal('refused'),
  Type.Literal('busy'),
  Type.Literal('failed'),
  Type.Literal('crash'),
  Type.Literal('adopted'),
]);
export const AgentEvent = Type.Object(
  {
    /** chosen by the agent once and kept across retries: the server stores each id once */
    id: Uuid,
    at: IsoTime,
    type: EventType,
    patchId: PatchId,
    pid: Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 }),
    reason: Type.Optional(Type.String({ maxLength: 100 })),
    detail: Type.Optional(Type.String({ maxLength: 2000 })),
    /** the operation (e.g. an unapply command) this outcome answers */
    commandId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type AgentEvent = Static<typeof AgentEvent>;
export const Events = msg('events', { events: Type.Array(AgentEvent, { minItems: 1, maxItems: 1000 }) });

/** The agent took a command: done (its outcome events follow or came before) or failed. */
export const CommandAck = msg('command-ack', { commandId: Uuid, outcome: Type.Union([Type.Literal('done'), Type.Literal('failed')]), detail: Type.Optional(Type.String({ maxLength: 2000 })) });

export const RenewToken = msg('renew-token', {});

const Count = Type.Integer({ minimum: 0, maximum: 1_000_000 });
export const PatchStatusEntry = Type.Object(
  {
    patchId: PatchId,
    /** processes that load the patch's module now */
    matching: Count,
    /** of those, processes the patch is applied in */
    applied: Count,
    /** processes where it was refused for good (e.g. traced, wrong bytes) */
    refused: Count,
    /** processes where the last try was busy or failed (tried again) */
    failed: Count,
    /** set when the crash guard stopped this patch on the host: why */
    stopped: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type PatchStatusEntry = Static<typeof PatchStatusEntry>;
/** Where each enabled patch stands on this host (the whole set; replaces what the server has). */
export const PatchStatus = msg('patch-status', { patches: Type.Array(PatchStatusEntry, { maxItems: 10_000 }) });

export const AgentMessage = Type.Union([Hello, Inventory, Events, CommandAck, RenewToken, PatchStatus]);
export type AgentMessage = Static<typeof AgentMessage>;

// ---- server -> agent ----

export const Welcome = msg('welcome', {
  agentId: Uuid,
  group: Type.String({ maxLength: 64 }),
  heartbeatSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
  /** the hello's inventoryDigest is what the server has stored: the agent sends only what changed since, not a full inventory */
  inventoryCurrent: Type.Optional(Type.Boolean()),
});
/**
 * What this agent's group has enabled, with each patch's signed envelope: the agent verifies
 * every one against its pinned root before anything touches memory, applies what is enabled and
 * takes out what no longer is. Sent on connect and whenever the version moves.
 */
export const Desired = msg('desired', {
  state: DesiredState,
  patches: Type.Array(Type.Object({ id: PatchId, envelope: Base64 }, { additionalProperties: false }), { maxItems: 10_000 }),
  /** the online-signed manifest of each module those patches fix: freshness, rollback and release checks (verifyUpdate) */
  manifests: Type.Array(Type.Object({ module: Sha256Hex, envelope: Base64 }, { additionalProperties: false }), { maxItems: 10_000 }),
  /** every root version the server has, oldest first: the agent follows the chain from the one it pinned */
  roots: Type.Array(Base64, { maxItems: 100 }),
});
/** Stored ids: the agent may forget these events (drop them from its outbox). */
export const EventsAck = msg('events-ack', { ids: Type.Array(Uuid, { maxItems: 1000 }) });
export const Command = msg('command', { id: Uuid, kind: Type.Literal('unapply'), patchId: PatchId });
export const Token = msg('token', { token: Type.String({ maxLength: 4096 }), expiresAt: IsoTime });
export const ProtocolError = msg('error', { code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 2000 }) });

export const ServerMessage = Type.Union([Welcome, Desired, EventsAck, Command, Token, ProtocolError]);
export type ServerMessage = Static<typeof ServerMessage>;
