// The webhook deliveries repository: one delivery per (event, subscription) and one log entry per attempt at it.
// The dispatcher's functions work across applications (one dispatcher serves them all); what an API caller reads or
// queues is scoped by application.
import { atomically } from './transaction.js';
import { sql, type Insertable, type Selectable } from 'kysely';
import type { Dialect, Executor } from './database.js';
import type { WebhookAttemptsTable, WebhookDeliveriesTable } from './schema.js';
import { findEvent, findEventsToDeliver, lockUndeliveredEvents, markEventsDelivered, type EventToDeliver, type UndeliveredEvent } from './outbox.js';
import { disableWebhook, findEnabledWebhooks, findWebhooksByIds, type WebhookRow, type WebhookTarget } from './webhooks.js';

export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type NewDelivery = Insertable<WebhookDeliveriesTable>;
export type AttemptRow = Selectable<WebhookAttemptsTable>;
export type NewAttempt = Insertable<WebhookAttemptsTable>;
export type AttemptSummary = Pick<AttemptRow, 'delivery_id' | 'created_at' | 'execution_attempt' | 'status_code' | 'success'>;

export interface ClaimedDelivery {
  delivery: DeliveryRow;
  /** Either is missing when it was deleted between the claim and this read. */
  webhook: WebhookRow | undefined;
  event: EventToDeliver | undefined;
}

/** How an attempt ended, as the dispatcher judged it. */
export type AttemptResult =
  | { outcome: 'delivered'; statusCode: number }
  | { outcome: 'retry'; statusCode: number; nextAttemptAt: number }
  /** The last attempt failed: the delivery fails and the subscription is disabled with `retry_limit`. */
  | { outcome: 'exhausted'; statusCode: number };

/** Filters of the attempt log; all optional, combined with AND. */
export interface AttemptFilter {
  exclude_apis?: string[];
  service_id?: string;
  consumer_id?: string;
  event_type?: string;
  event_id?: string;
  start_date?: number;
  end_date?: number;
  success?: boolean;
  status_codes?: number[];
  execution_attempt?: number;
}

/**
 * Hands undelivered events to the subscriptions in one transaction: locks up to `limit` of them (see
 * lockUndeliveredEvents), inserts the deliveries `plan` makes for them from the enabled subscriptions of their
 * applications (a delivery that exists already is kept) and marks the events handed over. `plan` runs inside the
 * transaction because on PostgreSQL the events' locks are what keeps two dispatchers from fanning out the same ones.
 */
export async function fanOutEvents(
  db: Executor,
  dialect: Dialect,
  limit: number,
  plan: (events: UndeliveredEvent[], webhooks: WebhookTarget[], now: number) => NewDelivery[],
): Promise<void> {
  await atomically(db, async (trx) => {
    const events = await lockUndeliveredEvents(trx, dialect, limit);
    if (events.length === 0) return;
    const webhooks = await findEnabledWebhooks(trx, [...new Set(events.map((e) => e.application_id))]);
    const now = Date.now();
    const deliveries = plan(events, webhooks, now);
    if (deliveries.length > 0) {
      await trx.insertInto('webhook_deliveries').values(deliveries).onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing()).execute();
    }
    await markEventsDelivered(trx, events.map((e) => e.id), now);
  });
}

/**
 * Claims up to `limit` due deliveries and bumps their attempt number, so each attempt is made by exactly one
 * dispatcher: on PostgreSQL rows another instance is claiming are skipped (`FOR UPDATE SKIP LOCKED`). Their next
 * attempt time becomes `leaseUntil`, so the attempt of an instance that crashed is due again once the lease is over.
 */
export async function claimDueDeliveries(
  db: Executor,
  dialect: Dialect,
  options: { now: number; leaseUntil: number; limit: number },
): Promise<ClaimedDelivery[]> {
  const ids = await atomically(db, async (trx) => {
    let query = trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', options.now)
      .orderBy('next_attempt_at')
      .limit(options.limit);
    if (dialect === 'postgres') query = query.forUpdate().skipLocked();
    const due = (await query.execute()).map((row) => row.id);
    if (due.length === 0) return due;
    await trx
      .updateTable('webhook_deliveries')
      .set({ attempts: sql`attempts + 1`, next_attempt_at: options.leaseUntil })
      .where('id', 'in', due)
      .execute();
    return due;
  });
  if (ids.length === 0) return [];
  const deliveries = await db.selectFrom('webhook_deliveries').selectAll().where('id', 'in', ids).execute();
  const webhooks = await findWebhooksByIds(db, [...new Set(deliveries.map((d) => d.webhook_id))]);
  const events = await findEventsToDeliver(db, [...new Set(deliveries.map((d) => d.event_id))]);
  // Ids are unique across applications; matching the application as well keeps one tenant's rows off another's.
  return deliveries.map((delivery) => ({
    delivery,
    webhook: webhooks.find((w) => w.id === delivery.webhook_id && w.application_id === delivery.application_id),
    event: events.find((e) => e.id === delivery.event_id && e.application_id === delivery.application_id),
  }));
}

/** A delivery that can no longer be made (its subscription or event is gone, or the subscription is disabled). */
export async function cancelDelivery(db: Executor, applicationId: string, id: string): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ status: 'cancelled' }).where('application_id', '=', applicationId).where('id', '=', id).execute();
}

/**
 * Records one attempt in one transaction: the delivery's new state, the attempt's log entry (at `entry.created_at`)
 * and, after the last failed attempt, the subscription disabled. The delivery changes only while it is pending at
 * attempt `delivery.attempts`: if this attempt outlived its lease and another instance took the next one, that
 * instance owns the row and this attempt is only logged. When the delivery is gone (its subscription was deleted
 * while the attempt was in flight, which deletes its deliveries and their attempts), nothing is written: `gone`.
 * Returns whether the subscription was disabled.
 */
export async function recordAttempt(
  db: Executor,
  delivery: Pick<DeliveryRow, 'id' | 'application_id' | 'webhook_id' | 'event_id' | 'attempts'>,
  result: AttemptResult,
  entry: Omit<NewAttempt, 'application_id' | 'delivery_id' | 'webhook_id' | 'event_id' | 'retry_scheduled'>,
): Promise<{ webhookDisabled: boolean; gone: boolean }> {
  try {
    return await writeAttempt(db, delivery, result, entry);
  } catch (error) {
    // The delete committed between our check and the attempt's insert (the insert's foreign key saw it): as gone.
    if (!db.isTransaction && isForeignKeyViolation(error) && !(await deliveryExists(db, delivery))) return { webhookDisabled: false, gone: true };
    throw error;
  }
}

function isForeignKeyViolation(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

async function deliveryExists(db: Executor, delivery: Pick<DeliveryRow, 'id' | 'application_id'>): Promise<boolean> {
  const row = await db.selectFrom('webhook_deliveries').select('id').where('id', '=', delivery.id).where('application_id', '=', delivery.application_id).executeTakeFirst();
  return row !== undefined;
}

async function writeAttempt(
  db: Executor,
  delivery: Pick<DeliveryRow, 'id' | 'application_id' | 'webhook_id' | 'event_id' | 'attempts'>,
  result: AttemptResult,
  entry: Omit<NewAttempt, 'application_id' | 'delivery_id' | 'webhook_id' | 'event_id' | 'retry_scheduled'>,
): Promise<{ webhookDisabled: boolean; gone: boolean }> {
  const now = entry.created_at;
  return atomically(db, async (trx) => {
    const updated = await trx
      .updateTable('webhook_deliveries')
      .set(
        result.outcome === 'delivered'
          ? { status: 'delivered', delivered_at: now, last_status_code: result.statusCode }
          : result.outcome === 'exhausted'
            ? { status: 'failed', last_status_code: result.statusCode }
            : { next_attempt_at: result.nextAttemptAt, last_status_code: result.statusCode },
      )
      .where('id', '=', delivery.id)
      .where('application_id', '=', delivery.application_id)
      .where('attempts', '=', delivery.attempts)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    // An owned row is now locked by this transaction, so a concurrent delete waits for it (and takes the attempt along).
    const owned = Number(updated.numUpdatedRows) > 0;
    if (!owned && !(await deliveryExists(trx, delivery))) return { webhookDisabled: false, gone: true };
    await trx
      .insertInto('webhook_attempts')
      .values({
        ...entry,
        application_id: delivery.application_id,
        delivery_id: delivery.id,
        webhook_id: delivery.webhook_id,
        event_id: delivery.event_id,
        retry_scheduled: result.outcome === 'retry' && owned ? 1 : 0,
      })
      .execute();
    const webhookDisabled = result.outcome === 'exhausted' && owned;
    if (webhookDisabled) await disableWebhook(trx, delivery.application_id, delivery.webhook_id, 'retry_limit', now);
    return { webhookDisabled, gone: false };
  });
}

/**
 * Queues an event again for the subscriptions `plan` picks from the application's enabled ones, in one transaction:
 * a delivery that exists already starts a fresh series of attempts (same id, so the same idempotency key). The event
 * is marked handed over if it was not yet, so fan-out does not make the same deliveries again. Returns the
 * subscriptions it was queued for, or null when the application has no such event.
 */
export async function requeueEvent(
  db: Executor,
  applicationId: string,
  eventId: string,
  plan: (event: { id: string; event_type: string }, webhooks: WebhookTarget[], now: number) => NewDelivery[],
): Promise<string[] | null> {
  return atomically(db, async (trx) => {
    const event = await findEvent(trx, applicationId, eventId);
    if (!event) return null;
    const webhooks = await findEnabledWebhooks(trx, [applicationId]);
    const now = Date.now();
    const deliveries = plan(event, webhooks, now);
    for (const delivery of deliveries) {
      await trx
        .insertInto('webhook_deliveries')
        .values({ ...delivery, application_id: applicationId, event_id: eventId })
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doUpdateSet({ status: 'pending', attempts: 0, next_attempt_at: now, delivered_at: null }))
        .execute();
    }
    await markEventsDelivered(trx, [eventId], now, { onlyIfPending: true });
    return deliveries.map((delivery) => delivery.webhook_id);
  });
}

/** One page of the application's attempt log, newest first, before the id `before` when given. */
export async function findAttempts(
  db: Executor,
  applicationId: string,
  filter: AttemptFilter,
  page: { before?: string | null; limit: number },
): Promise<AttemptRow[]> {
  let query = db.selectFrom('webhook_attempts').selectAll().where('application_id', '=', applicationId);
  if (page.before) query = query.where('id', '<', page.before);
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
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** Every attempt of these deliveries in order, in brief: the history shown with each log entry. */
export async function findAttemptSummaries(db: Executor, applicationId: string, deliveryIds: string[]): Promise<AttemptSummary[]> {
  if (deliveryIds.length === 0) return [];
  return db
    .selectFrom('webhook_attempts')
    .select(['delivery_id', 'created_at', 'execution_attempt', 'status_code', 'success'])
    .where('application_id', '=', applicationId)
    .where('delivery_id', 'in', deliveryIds)
    .orderBy('id')
    .execute();
}
