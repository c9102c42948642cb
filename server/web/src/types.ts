/**
 * Shapes of the API responses the dashboard reads. Those the server declares in
 * server/src/routes/api/v1/views.ts are derived from its typebox schemas (a type-only import,
 * which esbuild erases), so the dashboard cannot drift from the API; the rest are written out.
 */
import type { Static } from 'typebox';
import type { AgentEventSchema, AgentPatchSchema, AgentSchema, PatchSchema, TokenSchema } from '../../src/routes/api/v1/views.ts';

export type Agent = Static<typeof AgentSchema>;
export type AgentPatch = Static<typeof AgentPatchSchema>;
export type AgentEvent = Static<typeof AgentEventSchema>;
export type Patch = Static<typeof PatchSchema>;
export type Token = Static<typeof TokenSchema>;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AgentDetail {
  agent: Agent;
  modules: { sha256: string; name: string; processes: number }[];
  patches: AgentPatch[];
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
