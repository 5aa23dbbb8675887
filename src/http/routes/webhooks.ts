// Apideck's Webhook API: subscriptions (`/webhook/webhooks`) and the delivery log (`/webhook/logs`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { listWebhookLogs, type WebhookLogFilter } from '../../events/delivery-log.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  rotateWebhookSecret,
  updateWebhook,
  type WebhookPolicy,
} from '../../events/subscriptions.js';
import type { VaultContext } from '../../vault/context.js';
import { badRequest } from '../../vault/errors.js';
import { bearerToken } from '../auth.js';
import { ok } from '../envelope.js';
import { pageMeta, parseCursor, parseLimit } from '../paging.js';
import { CreateWebhookRequest, UpdateWebhookRequest, WebhookParams } from '../schemas.js';
import { MAX_QUERY_INTEGER } from '../input-bounds.js';

const op = (id: string, name: string) => ({ operation: { id, name }, access: 'app' as const, sessionAllowed: false });

/** The caller's API key: Apideck's `x-apideck-signature` on this subscription's deliveries is keyed with it. */
function apiKeyOf(request: FastifyRequest): string | null {
  if (request.caller?.via !== 'api_key') return null;
  return bearerToken(request.headers.authorization);
}

function single(raw: unknown, name: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw badRequest(`filter[${name}] must be a single value`, { invalid: [{ [`filter[${name}]`]: 'single value' }] });
  return raw;
}

function integer(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > MAX_QUERY_INTEGER) {
    throw badRequest(`filter[${name}] must be an integer from 0 to ${MAX_QUERY_INTEGER}`, { invalid: [{ [`filter[${name}]`]: raw }] });
  }
  return value;
}

function date(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw badRequest(`filter[${name}] must be an ISO 8601 date`, { invalid: [{ [`filter[${name}]`]: raw }] });
  return ms;
}

const LOG_FILTERS = new Set([
  'exclude_apis', 'service', 'consumer_id', 'entity_type', 'event_type', 'start_date', 'end_date', 'success', 'status_code', 'status_codes',
  'event_id', 'execution_attempt',
]);

function parseWebhookLogFilter(query: Record<string, unknown>): WebhookLogFilter {
  const raw = (query.filter ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('filter must use filter[<name>]=value');
  for (const key of Object.keys(raw)) {
    if (!LOG_FILTERS.has(key)) throw badRequest(`Unknown filter "${key}"`, { invalid: [{ [`filter[${key}]`]: 'not allowed' }] });
  }
  const success = single(raw.success, 'success');
  if (success !== undefined && success !== 'true' && success !== 'false') throw badRequest('filter[success] must be true or false');
  const list = (value: unknown) => (value === undefined ? [] : (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean));
  const statusCodes = [...list(raw.status_codes), ...list(raw.status_code)].map((code) => integer(code, 'status_codes')!);
  // `filter[service][id]` is one level deeper than the query parser nests.
  const serviceId = single(query['filter[service][id]'], 'service][id') ?? (typeof raw.service === 'string' ? raw.service : undefined);
  return {
    exclude_apis: list(raw.exclude_apis),
    service_id: serviceId,
    consumer_id: single(raw.consumer_id, 'consumer_id'),
    entity_type: single(raw.entity_type, 'entity_type'),
    event_type: single(raw.event_type, 'event_type'),
    start_date: date(single(raw.start_date, 'start_date'), 'start_date'),
    end_date: date(single(raw.end_date, 'end_date'), 'end_date'),
    success: success === undefined ? undefined : success === 'true',
    status_codes: statusCodes,
    event_id: single(raw.event_id, 'event_id'),
    execution_attempt: integer(single(raw.execution_attempt, 'execution_attempt'), 'execution_attempt'),
  };
}

export function webhookRoutes(ctx: VaultContext, policy: WebhookPolicy): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/webhook/webhooks', { config: op('webhooksAll', 'List webhook subscriptions') }, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const cursor = parseCursor(query.cursor);
      const page = await listWebhooks(ctx, request.caller!.applicationId, { cursor, limit: parseLimit(query.limit) });
      return ok(reply, page.data, pageMeta(ctx.publicUrl, request, page.data.length, cursor, page.next));
    });

    app.post('/webhook/webhooks', { schema: { body: CreateWebhookRequest }, config: op('webhooksAdd', 'Create webhook subscription') }, async (request, reply) => {
      const { webhook, secret } = await createWebhook(ctx, request.caller!.applicationId, request.body, apiKeyOf(request), policy);
      // The Standard Webhooks secret is shown once, here and on rotation, like an API key.
      return ok(reply, { ...webhook, secret }, { status: 201 });
    });

    app.get('/webhook/webhooks/:id', { schema: { params: WebhookParams }, config: op('webhooksOne', 'Get webhook subscription') }, async (request, reply) =>
      ok(reply, await getWebhook(ctx, request.caller!.applicationId, request.params.id)),
    );

    app.patch(
      '/webhook/webhooks/:id',
      { schema: { params: WebhookParams, body: UpdateWebhookRequest }, config: op('webhooksUpdate', 'Update webhook subscription') },
      async (request, reply) => ok(reply, await updateWebhook(ctx, request.caller!.applicationId, request.params.id, request.body, apiKeyOf(request), policy)),
    );

    app.delete('/webhook/webhooks/:id', { schema: { params: WebhookParams }, config: op('webhooksDelete', 'Delete webhook subscription') }, async (request, reply) =>
      ok(reply, await deleteWebhook(ctx, request.caller!.applicationId, request.params.id)),
    );

    app.post(
      '/webhook/webhooks/:id/rotate-secret',
      { schema: { params: WebhookParams }, config: op('webhooksRotateSecret', 'Rotate the Standard Webhooks secret (Coffer)') },
      async (request, reply) => {
        const { webhook, secret } = await rotateWebhookSecret(ctx, request.caller!.applicationId, request.params.id);
        return ok(reply, { ...webhook, secret });
      },
    );

    app.get('/webhook/logs', { config: op('webhookEventLogsAll', 'List webhook event logs') }, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const cursor = parseCursor(query.cursor);
      const page = await listWebhookLogs(ctx, request.caller!.applicationId, { filter: parseWebhookLogFilter(query), cursor, limit: parseLimit(query.limit) });
      return ok(reply, page.data, pageMeta(ctx.publicUrl, request, page.data.length, cursor, page.next));
    });
  };
}
