/**
 * Shapes of the API responses the dashboard reads, derived from the server's typebox schemas
 * (server/src/routes/api/v1/views.ts and siem-views.ts; a type-only import, which esbuild
 * erases), so the dashboard cannot drift from the API: a renamed field fails its type check.
 */
import type { Static } from 'typebox';
import type { SiemEventSchema } from '../../src/routes/api/v1/siem-views.ts';
import type {
  AgentDetailSchema,
  AgentEventSchema,
  AgentPatchSchema,
  AgentSchema,
  AuditEntrySchema,
  CoveragePointSchema,
  CoverageSchema,
  EnablementSchema,
  GroupSchema,
  OperationProgressSchema,
  OverviewSchema,
  PatchSchema,
  RolloutSchema,
  RolloutStageSchema,
  TokenSchema,
  VulnerableEndpointSchema,
} from '../../src/routes/api/v1/views.ts';

export type Agent = Static<typeof AgentSchema>;
export type AgentPatch = Static<typeof AgentPatchSchema>;
export type AgentEvent = Static<typeof AgentEventSchema>;
export type AgentDetail = Static<typeof AgentDetailSchema>;
export type Patch = Static<typeof PatchSchema>;
export type Token = Static<typeof TokenSchema>;
/** An event of the SIEM read API: an agent event with the agent's and patch's context. */
export type SiemEvent = Static<typeof SiemEventSchema>;
export type Coverage = Static<typeof CoverageSchema>;
export type CoveragePoint = Static<typeof CoveragePointSchema>;
export type Overview = Static<typeof OverviewSchema>;
export type Group = Static<typeof GroupSchema>;
export type Enablement = Static<typeof EnablementSchema>;
export type Stage = Static<typeof RolloutStageSchema>;
export type Rollout = Static<typeof RolloutSchema>;
export type Progress = Static<typeof OperationProgressSchema>;
export type AuditEntry = Static<typeof AuditEntrySchema>;
export type VulnerableEndpoint = Static<typeof VulnerableEndpointSchema>;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
