// The webhook subscriptions repository: an application's subscriptions, always looked up within that application.
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Executor } from './database.js';
import type { WebhooksTable } from './schema.js';

export type WebhookRow = Selectable<WebhooksTable>;
export type NewWebhook = Insertable<WebhooksTable>;
/** What an update may change: never the id, the owning application or the creation time. */
export type WebhookChanges = Omit<Updateable<WebhooksTable>, 'id' | 'application_id' | 'created_at'>;
/** What fan-out needs of a subscription to decide which events it takes. */
export type WebhookTarget = Pick<WebhookRow, 'id' | 'application_id' | 'events' | 'created_at'>;

export async function insertWebhook(db: Executor, row: NewWebhook): Promise<void> {
  await db.insertInto('webhooks').values(row).execute();
}

export async function findWebhook(db: Executor, applicationId: string, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('application_id', '=', applicationId).where('id', '=', id).executeTakeFirst();
}

/** Up to `limit` subscriptions in id order, after the id `after` when given (keyset pagination). */
export async function findWebhooks(db: Executor, applicationId: string, page: { after?: string | null; limit: number }): Promise<WebhookRow[]> {
  let query = db.selectFrom('webhooks').selectAll().where('application_id', '=', applicationId);
  if (page.after) query = query.where('id', '>', page.after);
  return query.orderBy('id').limit(page.limit).execute();
}

/** The enabled subscriptions of these applications: the ones an event can fan out to. */
export async function findEnabledWebhooks(db: Executor, applicationIds: string[]): Promise<WebhookTarget[]> {
  if (applicationIds.length === 0) return [];
  return db
    .selectFrom('webhooks')
    .select(['id', 'application_id', 'events', 'created_at'])
    .where('application_id', 'in', applicationIds)
    .where('status', '=', 'enabled')
    .execute();
}

export async function updateWebhookRow(db: Executor, applicationId: string, id: string, changes: WebhookChanges): Promise<void> {
  await db.updateTable('webhooks').set(changes).where('application_id', '=', applicationId).where('id', '=', id).execute();
}

/** Deleting a subscription deletes its deliveries and their attempts (foreign keys cascade). */
export async function deleteWebhookRow(db: Executor, applicationId: string, id: string): Promise<void> {
  await db.deleteFrom('webhooks').where('application_id', '=', applicationId).where('id', '=', id).execute();
}

/** Turns an enabled subscription off with a reason; one already disabled (by hand or by another instance) keeps its own. */
export async function disableWebhook(db: Executor, applicationId: string, id: string, reason: string, now: number): Promise<void> {
  await db
    .updateTable('webhooks')
    .set({ status: 'disabled', disabled_reason: reason, updated_at: now })
    .where('application_id', '=', applicationId)
    .where('id', '=', id)
    .where('status', '=', 'enabled')
    .execute();
}

/** Subscriptions by id across applications: the dispatcher's view of claimed deliveries (it serves every application). */
export async function findWebhooksByIds(db: Executor, ids: string[]): Promise<WebhookRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('webhooks').selectAll().where('id', 'in', ids).execute();
}
