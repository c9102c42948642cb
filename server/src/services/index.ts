import type { KeyPair } from '@suture/shared/trust';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import { createAgentService } from './agent.service.ts';
import { createAgentIngestService } from './agent-ingest.service.ts';
import { createAgentStatusService } from './agent-status.service.ts';
import { createGroupService } from './group.service.ts';
import { createAuditService } from './audit.service.ts';
import { createRolloutService } from './rollout.service.ts';
import { createSiemSinkService } from './siem-sink.service.ts';
import { createFleetService } from './fleet.service.ts';
import { createCoverageService } from './coverage.service.ts';
import { createSiemEventService } from './siem-events.service.ts';
import { createOperationService } from './operation.service.ts';
import { createDesiredService } from './desired.service.ts';
import { createManifestService } from './manifest.service.ts';
import { createModuleService } from './module.service.ts';
import { createPatchService } from './patch.service.ts';
import { createRootService } from './root.service.ts';
import { createSessionService } from './session.service.ts';
import { createTokenService } from './token.service.ts';
import { createUserService } from './user.service.ts';

export function createServices(deps: { db: Db; config: Config; jwtSecret: string; onlineKey: KeyPair }) {
  const { db, config } = deps;
  const roots = createRootService({ db });
  const groups = createGroupService({ db });
  const manifests = createManifestService({ db, roots, onlineKey: deps.onlineKey, ttlSeconds: config.manifestTtlSeconds });
  const desired = createDesiredService({ db, manifests });
  const enable = async (o: { patchId: string; groups: string[] }) => {
    for (const group of o.groups) await desired.enable({ patchId: o.patchId, group, byUserId: null });
  };
  return {
    users: createUserService({ db }),
    tokens: createTokenService({ db }),
    sessions: createSessionService({ db, secret: deps.jwtSecret, ttlSeconds: config.jwtTtlSeconds }),
    roots,
    manifests,
    patches: createPatchService({ db, roots, manifests }),
    modules: createModuleService({ db }),
    fleet: createFleetService({ db }),
    agentStatus: createAgentStatusService({ db }),
    ingest: createAgentIngestService({ db }),
    operations: createOperationService({ db }),
    desired,
    rollouts: createRolloutService({ db, groups, enable }),
    groups,
    audit: createAuditService({ db }),
    siemSinks: createSiemSinkService({ db }),
    siemEvents: createSiemEventService({ db }),
    coverage: createCoverageService({ db }),
    agents: createAgentService({ db, roots, groups, secret: deps.jwtSecret, jwtTtlSeconds: config.agentJwtTtlSeconds }),
  };
}
export type Services = ReturnType<typeof createServices>;
