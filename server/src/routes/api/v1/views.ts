import Type from 'typebox';
import { Severity } from '@suture/shared/schemas';
import { Nullable } from '../../nullable.ts';
import { SiemEventSchema } from './siem-views.ts';

/** Response shapes: stable field names, never raw database rows. */
export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('auditor')]);
export const PermissionSchema = Type.Union([Type.Literal('read'), Type.Literal('publish'), Type.Literal('admin')]);

export const UserSchema = Type.Object({
  id: Type.String(),
  username: Type.String(),
  role: RoleSchema,
  createdAt: Type.String(),
  disabledAt: Nullable(Type.String()),
});

export const TokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  userId: Type.String(),
  scopes: Type.Array(PermissionSchema),
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
});

export const PatchSchema = Type.Object({
  id: Type.String(),
  moduleSha256: Type.String(),
  moduleName: Type.String(),
  title: Type.String(),
  severity: Type.String(),
  cves: Type.Array(Type.String()),
  release: Type.Integer(),
  documentSha256: Type.String(),
  documentLength: Type.Integer(),
  publishedAt: Type.String(),
  withdrawnAt: Nullable(Type.String()),
});

export const ModuleSchema = Type.Object({
  sha256: Type.String(),
  name: Type.String(),
  size: Type.Integer(),
  platform: Type.String(),
  arch: Type.String(),
  buildId: Nullable(Type.String()),
  pe: Nullable(Type.Object({ timeDateStamp: Type.Integer(), sizeOfImage: Type.Integer() })),
  activePatches: Type.Integer(),
  createdAt: Type.String(),
});

export const Username = Type.String({ pattern: '^[A-Za-z0-9._@-]{1,64}$' });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const Tag = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$', description: 'agent tag (letters, digits, . _ : -)' });
export const GroupName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'agent group (letters, digits, . _ -)' });

export const EnrollmentTokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  group: Nullable(Type.String({ description: 'null: the group rules place each agent' })),
  maxUses: Type.Integer(),
  uses: Type.Integer(),
  expiresAt: Type.String(),
  createdAt: Type.String(),
  revokedAt: Nullable(Type.String()),
});

export const AgentSchema = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  os: Type.String(),
  arch: Type.String(),
  version: Type.String(),
  group: Type.String(),
  tags: Type.Array(Type.String()),
  enrolledAt: Type.String(),
  lastSeenAt: Nullable(Type.String()),
  online: Type.Boolean({ description: 'socket open and heard from within 45 s' }),
  connectedAt: Nullable(Type.String({ description: 'the current (or last) connection began' })),
  disconnectedAt: Nullable(Type.String({ description: 'that connection closed (null while connected)' })),
  revokedAt: Nullable(Type.String()),
});

export const AgentPatchSchema = Type.Object({
  patchId: Type.String(),
  matching: Type.Integer({ description: 'processes that load the patch\'s module' }),
  applied: Type.Integer({ description: 'of those, processes it is applied in' }),
  refused: Type.Integer({ description: 'processes that refused it for good (traced, wrong bytes, ...)' }),
  failed: Type.Integer({ description: 'processes where the last try was busy or failed (tried again)' }),
  stopped: Nullable(Type.String({ description: 'the crash guard stopped it on this host: why' })),
  updatedAt: Type.String({ description: 'when the reported status last changed' }),
});

export const AgentEventSchema = Type.Object({
  seq: Type.String({ description: 'position in the event log (the cursor)' }),
  id: Type.String({ description: 'the agent-chosen event id (unique per agent)' }),
  agentId: Type.String(),
  type: Type.String({ description: 'applied | unapplied | refused | busy | failed | crash | adopted' }),
  patchId: Type.String(),
  pid: Type.Integer(),
  reason: Nullable(Type.String()),
  detail: Nullable(Type.String()),
  commandId: Nullable(Type.String()),
  at: Type.String({ description: 'when it happened, on the agent' }),
  receivedAt: Type.String(),
});

export const CoverageSchema = Type.Object({
  patchId: Type.String(),
  title: Type.String(),
  cves: Type.Array(Type.String()),
  severity: Type.String(),
  status: Type.Union([Type.Literal('published'), Type.Literal('withdrawn')]),
  applied: Type.Integer({ description: 'agents that load the module and have the patch applied in every such process' }),
  vulnerable: Type.Integer({ description: 'agents that load the module and are not protected' }),
  notApplicable: Type.Integer({ description: 'agents that do not load the module' }),
  agents: Type.Integer({ description: 'enrolled agents that are not revoked (applied + vulnerable + notApplicable)' }),
});

export const CoveragePointSchema = Type.Object({
  at: Type.String({ description: 'start of the sampling period (COVERAGE_SAMPLE_SECONDS)' }),
  patchId: Nullable(Type.String({ description: 'null: the fleet totals, summed over the patches sampled then' })),
  applied: Type.Integer(),
  vulnerable: Type.Integer(),
  notApplicable: Type.Integer(),
});

export const AuditEntrySchema = Type.Object({
  seq: Type.String({ description: 'position in the log (the cursor)' }),
  at: Type.String(),
  actor: Type.Object({ id: Nullable(Type.String()), name: Type.String(), via: Type.String({ description: 'session | token | system' }) }),
  action: Type.String({ description: 'e.g. group.put, patch.enable, operation.unapply; undescribed changes are "<METHOD> <route>"' }),
  target: Type.Object({ type: Type.String(), id: Type.String() }),
  before: Type.Unknown(),
  after: Type.Unknown(),
  requestId: Nullable(Type.String()),
  ip: Nullable(Type.String()),
});

export const RolloutCriteriaSchema = Type.Object(
  {
    stageMinutes: Type.Number({ minimum: 0.05, maximum: 7 * 24 * 60, description: 'how long each stage runs before it is judged' }),
    minAppliedShare: Type.Number({ minimum: 0, maximum: 1, description: 'share of the stage\'s agents that load the module that must have it applied everywhere' }),
    maxFailures: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'processes that refused or failed the patch in a stage before it halts' }),
    maxCrashes: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'crashes of patched processes in a stage (on any ring reached so far) before it halts' }),
  },
  { additionalProperties: false },
);

export const RolloutStageSchema = Type.Object({
  position: Type.Integer(),
  ring: Type.Integer(),
  groups: Type.Array(Type.String()),
  status: Type.String({ description: 'pending | running | passed | halted | aborted' }),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  agents: Type.Integer({ description: 'agents of the stage that load the module' }),
  applied: Type.Integer({ description: 'of those, agents with the patch applied in every such process' }),
  failures: Type.Integer(),
  crashes: Type.Integer(),
});

export const RolloutSchema = Type.Object({
  id: Type.String(),
  patchId: Type.String(),
  status: Type.String({ description: 'scheduled | running | paused | halted | completed | aborted' }),
  haltReason: Nullable(Type.String()),
  startAt: Type.String(),
  createdAt: Type.String(),
  endedAt: Nullable(Type.String()),
  criteria: RolloutCriteriaSchema,
  unapplyOnAbort: Type.Boolean(),
  currentStage: Type.Integer(),
  stages: Type.Array(RolloutStageSchema),
});

/** An operation's counts: what GET /operations/:id/follow sends in its events. */
export const OperationProgressSchema = Type.Object({
  total: Type.Integer(),
  acknowledged: Type.Integer(),
  pending: Type.Integer(),
  failed: Type.Integer(),
});

export const OperationSchema = Type.Object({
  id: Type.String(),
  kind: Type.Literal('unapply'),
  patchId: Type.String(),
  scope: Type.String(),
  createdAt: Type.String(),
  ...OperationProgressSchema.properties,
  targets: Type.Array(Type.Object({ agentId: Type.String(), status: Type.String(), detail: Nullable(Type.String()), doneAt: Nullable(Type.String()) })),
});

export const AutoEnableSchema = Nullable(Type.Object({ minSeverity: Severity, delayMinutes: Type.Integer({ minimum: 0, maximum: 60 * 24 * 90 }) }, { additionalProperties: false }));

export const GroupSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  ring: Nullable(Type.Integer({ description: 'rollouts go through rings in ascending order; null: in no ring' })),
  autoEnable: AutoEnableSchema,
  agents: Type.Integer(),
  online: Type.Integer(),
});

export const OVERVIEW_RECENT_EVENTS = 30;
const Count = Type.Integer({ minimum: 0 });

export const OverviewSchema = Type.Object({
  agents: Type.Object({ total: Count, online: Count, offline: Count, revoked: Count }),
  patches: Type.Object({ published: Count, withdrawn: Count }),
  coverage: Type.Object({
    applied: Type.Integer({ description: 'agent-patch pairs: the agent loads the module and has the patch applied' }),
    vulnerable: Type.Integer({ description: 'agent-patch pairs: loads the module, not protected' }),
    notApplicable: Type.Integer({ description: 'agent-patch pairs: the agent does not load the module' }),
  }),
  vulnerableEndpoints: Type.Integer({ description: 'agents exposed to at least one published patch\'s flaw' }),
  recentEvents: Type.Array(SiemEventSchema, { description: `the latest ${OVERVIEW_RECENT_EVENTS} events, newest first` }),
  coverageSampleSeconds: Type.Integer({ description: 'how often coverage is sampled for GET /coverage/history (COVERAGE_SAMPLE_SECONDS)' }),
});

export const VulnerableEndpointSchema = Type.Object({
  agentId: Type.String(),
  hostname: Type.String(),
  group: Type.String(),
  os: Type.String(),
  online: Type.Boolean(),
  patchId: Type.String(),
  moduleSha256: Type.String(),
  moduleName: Type.String(),
  processes: Type.Integer({ description: 'processes on the agent that load the module' }),
  applied: Type.Integer({ description: 'of those, processes the patch is applied in' }),
});

export const AgentDetailSchema = Type.Object({ agent: AgentSchema, modules: Type.Array(Type.Object({ sha256: Type.String(), name: Type.String(), processes: Type.Integer() })), patches: Type.Array(AgentPatchSchema) });

export const EnablementSchema = Type.Object({ group: Type.String(), enabledAt: Type.String(), activeFrom: Nullable(Type.String({ description: "a group policy's delay: part of the group's state from then" })) });
