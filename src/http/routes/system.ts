import type { FastifyPluginAsync } from 'fastify';
import { ping, type Store } from '../../store/database.js';
import { errorBody } from '../envelope.js';

export function systemRoutes(store: Store): FastifyPluginAsync {
  return async (app) => {
    app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
      try {
        await ping(store);
        return { status: 'ready', database: store.dialect };
      } catch {
        return reply.code(503).send(errorBody(503, 'ServiceUnavailableError', 'The database is not reachable'));
      }
    });
  };
}
