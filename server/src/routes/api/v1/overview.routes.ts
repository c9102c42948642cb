import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../../schemas.ts';
import { SiemEventSchema } from './siem-views.ts';

const RECENT_EVENTS = 30;
const Count = Type.Integer({ minimum: 0 });

/** The fleet at a glance (the dashboard's first page). */
export const overviewRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/overview',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['siem'],
        summary: 'The fleet at a glance: agents, patches, coverage summed over published patches, endpoints exposed to any of them, the latest events',
        response: {
          200: Type.Object({
            agents: Type.Object({ total: Count, online: Count, offline: Count, revoked: Count }),
            patches: Type.Object({ published: Count, withdrawn: Count }),
            coverage: Type.Object({
              applied: Type.Integer({ description: 'agent-patch pairs: the agent loads the module and has the patch applied' }),
              vulnerable: Type.Integer({ description: 'agent-patch pairs: loads the module, not protected' }),
              notApplicable: Type.Integer({ description: 'agent-patch pairs: the agent does not load the module' }),
            }),
            vulnerableEndpoints: Type.Integer({ description: 'agents exposed to at least one published patch\'s flaw' }),
            recentEvents: Type.Array(SiemEventSchema, { description: `the latest ${RECENT_EVENTS} events, newest first` }),
          }),
          ...errors(401, 403, 429),
        },
      },
    },
    async () => {
      const [agents, patches, totals, recentEvents] = await Promise.all([
        app.services.coverage.agentCounts(),
        app.services.coverage.patchCounts(),
        app.services.coverage.totals(),
        app.services.siemEvents.recent(RECENT_EVENTS),
      ]);
      return { agents, patches, ...totals, recentEvents };
    },
  );
};
