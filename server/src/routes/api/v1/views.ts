import Type from 'typebox';
import { Nullable } from '../../nullable.ts';

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
  updatedAt: Type.String(),
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
