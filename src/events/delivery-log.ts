// The webhook event log (Apideck's `GET /webhook/logs`): one entry per delivery attempt, newest first, and
// redelivery of an event on operator request.
import type { VaultContext } from '../vault/context.js';
import { notFound } from '../vault/errors.js';
import { iso, uuidv7 } from '../vault/ids.js';
import { decodeCursor, encodeCursor, type Page } from '../vault/pagination.js';
import { readJson } from '../store/database.js';
import { subscribesTo } from './dispatcher.js';

export interface WebhookLogFilter {
  exclude_apis?: string[];
  service_id?: string;
  consumer_id?: string;
  entity_type?: string;
  event_type?: string;
  start_date?: number;
  end_date?: number;
  success?: boolean;
  status_codes?: number[];
  event_id?: string;
  execution_attempt?: number;
}

export async function listWebhookLogs(
  ctx: VaultContext,
  applicationId: string,
  options: { filter: WebhookLogFilter; cursor?: string; limit: number },
): Promise<Page<Record<string, unknown>>> {
  const { filter } = options;
  const before = decodeCursor(options.cursor);
  let query = ctx.db.selectFrom('webhook_attempts').selectAll().where('application_id', '=', applicationId);
  if (before) query = query.where('id', '<', before);
  if (filter.exclude_apis?.length) query = query.where('unified_api', 'not in', filter.exclude_apis);
  if (filter.service_id) query = query.where('service_id', '=', filter.service_id);
  if (filter.consumer_id) query = query.where('consumer_id', '=', filter.consumer_id);
  if (filter.event_type) query = query.where('event_type', '=', filter.event_type);
  if (filter.event_id) query = query.where('event_id', '=', filter.event_id);
  if (filter.start_date !== undefined) query = query.where('created_at', '>=', filter.start_date);
  if (filter.end_date !== undefined) query = query.where('created_at', '<=', filter.end_date);
  if (filter.success !== undefined) query = query.where('success', '=', filter.success ? 1 : 0);
  if (filter.status_codes?.length) query = query.where('status_code', 'in', filter.status_codes);
  if (filter.execution_attempt !== undefined) query = query.where('execution_attempt', '=', filter.execution_attempt);
  // Every event Coffer emits is about a Connection.
  if (filter.entity_type && filter.entity_type !== 'Connection') return { data: [], next: null };
  const rows = await query.orderBy('id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  const deliveryIds = [...new Set(page.map((row) => row.delivery_id))];
  const siblings = deliveryIds.length
    ? await ctx.db
        .selectFrom('webhook_attempts')
        .select(['delivery_id', 'created_at', 'execution_attempt', 'status_code', 'success'])
        .where('application_id', '=', applicationId)
        .where('delivery_id', 'in', deliveryIds)
        .orderBy('id')
        .execute()
    : [];
  const data = page.map((row) => ({
    id: row.id,
    status_code: row.status_code,
    success: row.success === 1,
    application_id: row.application_id,
    consumer_id: row.consumer_id,
    unified_api: row.unified_api,
    service: { id: row.service_id, name: ctx.catalogue.get(row.service_id)?.name ?? row.service_id },
    endpoint: row.endpoint,
    event_type: row.event_type,
    execution_attempt: row.execution_attempt,
    http_method: 'POST',
    timestamp: iso(row.created_at),
    entity_type: 'Connection',
    request_body: row.request_body,
    response_body: row.response_body ?? '',
    retry_scheduled: row.retry_scheduled === 1,
    attempts: siblings
      .filter((s) => s.delivery_id === row.delivery_id && s.execution_attempt <= row.execution_attempt)
      .map((s) => ({ timestamp: iso(s.created_at), execution_attempt: s.execution_attempt, status_code: s.status_code, success: s.success === 1 })),
  }));
  return { data, next: rows.length > options.limit ? encodeCursor(page[page.length - 1].id) : null };
}

/**
 * Sends an event again to every enabled subscription that takes it, as a fresh series of attempts (the idempotency
 * key stays the same, so a receiver that already handled it can tell). Returns the subscriptions it was queued for.
 */
export async function redeliverEvent(ctx: VaultContext, applicationId: string, eventId: string): Promise<string[]> {
  return ctx.db.transaction().execute(async (trx) => {
    const event = await trx.selectFrom('outbox').select(['id', 'event_type']).where('application_id', '=', applicationId).where('id', '=', eventId).executeTakeFirst();
    if (!event) throw notFound('Event', eventId);
    const hooks = await trx.selectFrom('webhooks').select(['id', 'events']).where('application_id', '=', applicationId).where('status', '=', 'enabled').execute();
    const targets = hooks.filter((hook) => subscribesTo(readJson<string[]>(hook.events, []), event.event_type)).map((hook) => hook.id);
    const now = Date.now();
    for (const webhookId of targets) {
      await trx
        .insertInto('webhook_deliveries')
        .values({
          id: uuidv7(now),
          application_id: applicationId,
          webhook_id: webhookId,
          event_id: eventId,
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          delivered_at: null,
          created_at: now,
        })
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doUpdateSet({ status: 'pending', attempts: 0, next_attempt_at: now, delivered_at: null }))
        .execute();
    }
    // Not yet fanned out: the dispatcher would otherwise create the same deliveries again (harmless, but noisy).
    await trx.updateTable('outbox').set({ delivered_at: now }).where('id', '=', eventId).where('delivered_at', 'is', null).execute();
    return targets;
  });
}
