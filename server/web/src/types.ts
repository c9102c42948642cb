/** Shapes of the API responses the dashboard reads (server/src/routes/api/v1/views.ts and the SIEM read API). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Agent {
  id: string;
  hostname: string;
  os: string;
  arch: string;
  version: string;
  group: string;
  tags: string[];
  enrolledAt: string;
  lastSeenAt: string | null;
  online: boolean;
  connectedAt: string | null;
  disconnectedAt: string | null;
  revokedAt: string | null;
}

export interface AgentPatch {
  patchId: string;
  matching: number;
  applied: number;
  refused: number;
  failed: number;
  stopped: string | null;
  updatedAt: string;
}

export interface AgentDetail {
  agent: Agent;
  modules: { sha256: string; name: string; processes: number }[];
  patches: AgentPatch[];
}

export interface AgentEvent {
  seq: string;
  id: string;
  agentId: string;
  type: string;
  patchId: string;
  pid: number;
  reason: string | null;
  detail: string | null;
  commandId: string | null;
  at: string;
  receivedAt: string;
}

/** An event of the SIEM read API: an agent event with the agent's and patch's context. */
export interface SiemEvent extends Partial<AgentEvent> {
  seq: string;
  type: string;
  at: string;
  hostname?: string | null;
  group?: string | null;
  cves?: string[] | null;
  severity?: string | null;
}

export interface Patch {
  id: string;
  moduleSha256: string;
  moduleName: string;
  title: string;
  severity: string;
  cves: string[];
  release: number;
  documentSha256: string;
  documentLength: number;
  publishedAt: string;
  withdrawnAt: string | null;
}

export interface Coverage {
  patchId: string;
  title: string;
  cves: string[];
  severity: string;
  status: string;
  applied: number;
  vulnerable: number;
  notApplicable: number;
  agents: number;
}

export interface CoveragePoint {
  at: string;
  patchId: string | null;
  applied: number;
  vulnerable: number;
  notApplicable: number;
}

export interface Overview {
  agents: { total: number; online: number; offline: number; revoked: number };
  patches: { published: number; withdrawn: number };
  coverage: { applied: number; vulnerable: number; notApplicable: number };
  vulnerableEndpoints: number;
  recentEvents: SiemEvent[];
}

export interface Group {
  name: string;
  description: string;
  ring: number | null;
  autoEnable: { minSeverity: string; delayMinutes: number } | null;
  agents: number;
  online: number;
}

export interface Enablement {
  group: string;
  enabledAt: string;
  activeFrom: string | null;
}

export interface Stage {
  position: number;
  ring: number;
  groups: string[];
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  agents: number;
  applied: number;
  failures: number;
  crashes: number;
}

export interface Rollout {
  id: string;
  patchId: string;
  status: string;
  haltReason: string | null;
  startAt: string;
  createdAt: string;
  endedAt: string | null;
  criteria: { stageMinutes: number; minAppliedShare: number; maxFailures: number; maxCrashes: number };
  unapplyOnAbort: boolean;
  currentStage: number;
  stages: Stage[];
}

export interface Progress {
  total: number;
  acknowledged: number;
  pending: number;
  failed: number;
}

export interface AuditEntry {
  seq: string;
  at: string;
  actor: { id: string | null; name: string; via: string };
  action: string;
  target: { type: string; id: string };
  before: unknown;
  after: unknown;
  requestId: string | null;
  ip: string | null;
}

export interface Token {
  id: string;
  name: string;
  userId: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface VulnerableEndpoint {
  agentId: string;
  hostname: string;
  group: string;
  os: string;
  online: boolean;
  patchId: string;
  moduleSha256: string;
  moduleName: string;
  processes: number;
  applied: number;
}
