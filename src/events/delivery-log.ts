// The webhook event log (Apideck's `GET /webhook/logs`): one entry per delivery attempt, newest first, and
// redelivery of an event on operator request.
import type { VaultContext } from '../vault/context.js';
import { notFound } from '../vault/errors.js';
import { iso } from '../vault/ids.js';
import { decodeCursor, encodeCursor, type Page } from '../vault/pagination.js';
import { readJson } from '../store/database.js';
import { findAttempts, findAttemptSummaries, requeueEvent } from '../store/webhook-deliveries.js';
import { newDelivery, subscribesTo } from './dispatcher.js';

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
  // Every event Coffer emits is about a Connection.
  if (filter.entity_type && filter.entity_type !== 'Connection') return { data: [], next: null };
  const rows = await findAttempts(ctx.db, applicationId, filter, { before, limit: options.limit + 1 });
  const page = rows.slice(0, options.limit);
  const siblings = await findAttemptSummaries(ctx.db, applicationId, [...new Set(page.map((row) => row.delivery_id))]);
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
  const targets = await requeueEvent(ctx.db, applicationId, eventId, (event, hooks, now) =>
    hooks
      .filter((hook) => subscribesTo(readJson<string[]>(hook.events, []), event.event_type))
      .map((hook) => newDelivery(applicationId, hook.id, eventId, now)),
  );
  if (!targets) throw notFound('Event', eventId);
  return targets;
}
