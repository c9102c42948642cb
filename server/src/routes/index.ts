import type { FastifyPluginAsync } from 'fastify';
import { healthRoutes } from './health.routes.ts';
import { authRoutes } from './api/v1/auth.routes.ts';
import { userRoutes } from './api/v1/users.routes.ts';
import { tokenRoutes } from './api/v1/tokens.routes.ts';
import { rootRoutes } from './api/v1/root.routes.ts';
import { patchRoutes } from './api/v1/patches.routes.ts';
import { moduleRoutes } from './api/v1/modules.routes.ts';
import { manifestRoutes } from './api/v1/manifests.routes.ts';
import { enrollmentTokenRoutes } from './api/v1/enrollment-tokens.routes.ts';
import { agentRoutes } from './api/v1/agents.routes.ts';
import { agentSocketRoutes } from './api/v1/agent-socket.routes.ts';
import { operationRoutes } from './api/v1/operations.routes.ts';
import { patchGroupRoutes } from './api/v1/patch-groups.routes.ts';
import { groupRoutes } from './api/v1/groups.routes.ts';
import { auditRoutes } from './api/v1/audit.routes.ts';
import { rolloutRoutes } from './api/v1/rollouts.routes.ts';
import { siemSinkRoutes } from './api/v1/siem-sinks.routes.ts';
import { eventRoutes } from './api/v1/events.routes.ts';
import { coverageRoutes } from './api/v1/coverage.routes.ts';
import { cveRoutes } from './api/v1/cves.routes.ts';
import { overviewRoutes } from './api/v1/overview.routes.ts';

/** A route's file is found from its URL: /api/v1/<name> lives in routes/api/v1/<name>.routes.ts. */
export const routes: FastifyPluginAsync = async (app) => {
  await app.register(healthRoutes);
  for (const r of [authRoutes, userRoutes, tokenRoutes, rootRoutes, patchRoutes, moduleRoutes, manifestRoutes, enrollmentTokenRoutes, agentRoutes, agentSocketRoutes, operationRoutes, patchGroupRoutes, groupRoutes, auditRoutes, rolloutRoutes, siemSinkRoutes, eventRoutes, coverageRoutes, cveRoutes, overviewRoutes]) {
    await app.register(r, { prefix: '/api/v1' });
  }
};
