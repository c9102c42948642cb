import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** OpenAPI document at /docs/json, browsable at /docs. */
export const docsPlugin = fp(async (app: FastifyInstance) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Suture API', version: '1', description: 'Publishing signed micropatches and fleet state.' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'session JWT or API token (sut_...)' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
});
