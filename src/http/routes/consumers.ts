import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VaultContext } from '../../vault/context.js';
import { consumerStats, createConsumer, deleteConsumer, getConsumer, listConsumers, updateConsumer } from '../../vault/consumers.js';
import { badRequest } from '../../vault/errors.js';
import { ok } from '../envelope.js';
import { pageMeta, parseCursor, parseLimit } from '../paging.js';
import { ConsumerParams, CreateConsumerRequest, UpdateConsumerRequest } from '../schemas.js';
import type { LogWriter } from '../../vault/logs.js';

const op = (id: string, name: string) => ({ operation: { id, name }, access: 'app' as const });

export function consumerRoutes(ctx: VaultContext, logs: LogWriter): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/vault/consumers', { schema: { body: CreateConsumerRequest }, config: op('consumersAdd', 'Create consumer') }, async (request, reply) =>
      ok(reply, await createConsumer(ctx, request.caller!.applicationId, request.body.consumer_id, request.body.metadata)),
    );

    app.get('/vault/consumers', { config: op('consumersAll', 'Get all consumers') }, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const filter = query.filter;
      if (filter !== undefined && (typeof filter !== 'object' || Array.isArray(filter))) throw badRequest('filter must use filter[consumer_id] / filter[search]');
      const f = (filter ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(f)) {
        if (key !== 'consumer_id' && key !== 'search') throw badRequest(`Unknown filter "${key}"`, { invalid: [{ [`filter[${key}]`]: 'not allowed' }] });
        if (typeof f[key] !== 'string') throw badRequest(`filter[${key}] must be a single string`);
      }
      const cursor = parseCursor(query.cursor);
      await logs.flushForRead();
      const page = await listConsumers(ctx, request.caller!.applicationId, {
        filter: f as { consumer_id?: string; search?: string },
        cursor,
        limit: parseLimit(query.limit),
      });
      return ok(reply, page.data, pageMeta(ctx.publicUrl, request, page.data.length, cursor, page.next));
    });

    app.get('/vault/consumers/:consumer_id', { schema: { params: ConsumerParams }, config: op('consumersOne', 'Get consumer') }, async (request, reply) => {
      await logs.flushForRead();
      return ok(reply, await getConsumer(ctx, request.caller!.applicationId, request.params.consumer_id));
    });

    app.patch(
      '/vault/consumers/:consumer_id',
      { schema: { params: ConsumerParams, body: UpdateConsumerRequest }, config: op('consumersUpdate', 'Update consumer') },
      async (request, reply) => ok(reply, await updateConsumer(ctx, request.caller!.applicationId, request.params.consumer_id, request.body.metadata)),
    );

    app.delete('/vault/consumers/:consumer_id', { schema: { params: ConsumerParams }, config: op('consumersDelete', 'Delete consumer') }, async (request, reply) =>
      ok(reply, await deleteConsumer(ctx, request.caller!.applicationId, request.params.consumer_id)),
    );

    app.get(
      '/vault/consumers/:consumer_id/stats',
      { schema: { params: ConsumerParams }, config: op('consumerRequestCountsAll', 'Consumer request counts within start and end datetime') },
      async (request, reply) => {
        const query = request.query as Record<string, unknown>;
        await logs.flushForRead();
        const stats = await consumerStats(ctx, request.caller!.applicationId, request.params.consumer_id, query.start_datetime as string | undefined, query.end_datetime as string | undefined);
        return ok(reply, stats);
      },
    );
  };
}
