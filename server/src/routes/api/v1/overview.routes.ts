import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../../schemas.ts';
import { OVERVIEW_RECENT_EVENTS as RECENT_EVENTS, OverviewSchema } from './views.ts';

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
          200: OverviewSchema,
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
      return { agents, patches, ...totals, recentEvents, coverageSampleSeconds: app.config.coverageSampleSeconds };
    },
  );
};
