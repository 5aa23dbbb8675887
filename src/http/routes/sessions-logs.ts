import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VaultContext } from '../../vault/context.js';
import { badRequest } from '../../vault/errors.js';
import { listLogs, type LogsFilter, type LogWriter } from '../../vault/logs.js';
import { createSession } from '../../vault/sessions.js';
import { scopeOf } from '../auth.js';
import { ok } from '../envelope.js';
import { pageMeta, parseCursor, parseLimit } from '../paging.js';
import { SessionRequest } from '../schemas.js';

const LOG_FILTERS = new Set([
  'connector_id', 'path', 'path_match_mode', 'http_method', 'http_methods', 'start_date', 'end_date', 'status_code', 'status_codes', 'exclude_unified_apis',
]);
const ARRAY_FILTERS = new Set(['http_methods', 'status_codes']);

function parseLogsFilter(raw: unknown): LogsFilter {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('filter must use filter[<name>]=value');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!LOG_FILTERS.has(key)) throw badRequest(`Unknown filter "${key}"`, { invalid: [{ [`filter[${key}]`]: 'not allowed' }] });
    if (ARRAY_FILTERS.has(key)) {
      const list = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
      out[key] = key === 'status_codes' ? list.map(Number) : list;
    } else {
      if (typeof value !== 'string') throw badRequest(`filter[${key}] must be a single value`);
      out[key] = key === 'status_code' ? Number(value) : value;
    }
  }
  return out as LogsFilter;
}

export function sessionAndLogRoutes(ctx: VaultContext, logs: LogWriter): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/vault/sessions',
      { schema: { body: SessionRequest }, config: { operation: { id: 'sessionsCreate', name: 'Create Session' }, access: 'consumer', sessionAllowed: false } },
      async (request, reply) => {
        const { applicationId, consumerId } = scopeOf(request);
        return ok(reply, await createSession(ctx, applicationId, consumerId, request.body ?? {}));
      },
    );

    app.get(
      '/vault/logs',
      { config: { operation: { id: 'logsAll', name: 'Get all consumer request logs' }, access: 'consumer', sessionAllowed: true, sessionRule: 'logs' } },
      async (request, reply) => {
        const query = request.query as Record<string, unknown>;
        const filter = parseLogsFilter(query.filter);
        const cursor = parseCursor(query.cursor);
        const limit = parseLimit(query.limit);
        await logs.flushForRead();
        const page = await listLogs(ctx.db, scopeOf(request), { filter, cursor, limit });
        return ok(reply, page.data, pageMeta(ctx.publicUrl, request, page.data.length, cursor, page.next));
      },
    );
  };
}
