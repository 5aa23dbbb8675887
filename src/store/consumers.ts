// The consumers repository: one row per (application, consumer), listed, read, updated and deleted with what it owns.
import { insertEvents, type OutboxRow } from './outbox.js';
import type { Insertable, Selectable, Transaction } from 'kysely';
import { readJson, type Executor } from './database.js';
import type { ConnectionsTable, ConsumersTable, Database } from './schema.js';
import { escapeLike, like } from './like.js';
import { atomically } from './transaction.js';
import type { ChangeFeed } from './change-feed.js';

export type ConsumerRow = Selectable<ConsumersTable>;
export type ConsumerConnectionRow = Selectable<ConnectionsTable>;

export interface ConsumerMetadata {
  account_name?: string;
  user_name?: string;
  email?: string;
  image?: string;
}

export function searchText(consumerId: string, metadata: ConsumerMetadata): string {
  return [consumerId, metadata.email, metadata.account_name, metadata.user_name].filter(Boolean).join('\n').toLowerCase();
}

/** Creates the consumer if missing; when `metadata` is given it replaces the stored metadata. */
/** A consumer's row as first written: no requests counted yet. */
export function newConsumerRow(applicationId: string, consumerId: string, metadata: ConsumerMetadata, now: number): Insertable<ConsumersTable> {
  return {
    application_id: applicationId,
    consumer_id: consumerId,
    metadata: JSON.stringify(metadata),
    search_text: searchText(consumerId, metadata),
    request_count_unify: 0,
    request_count_proxy: 0,
    request_count_vault: 0,
    request_count_updated: null,
    created_at: now,
    updated_at: now,
  };
}

export async function upsertConsumer(db: Executor, applicationId: string, consumerId: string, metadata?: ConsumerMetadata): Promise<void> {
  const now = Date.now();
  const existing = await db
    .selectFrom('consumers')
    .select(['metadata'])
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .executeTakeFirst();
  if (!existing) {
    await db
      .insertInto('consumers')
      .values(newConsumerRow(applicationId, consumerId, metadata ?? {}, now))
      .onConflict((oc) => oc.columns(['application_id', 'consumer_id']).doNothing())
      .execute();
    return;
  }
  if (metadata) {
    await db
      .updateTable('consumers')
      .set({ metadata: JSON.stringify(metadata), search_text: searchText(consumerId, metadata), updated_at: now })
      .where('application_id', '=', applicationId)
      .where('consumer_id', '=', consumerId)
      .execute();
  }
}

export function consumerMetadata(value: unknown): ConsumerMetadata {
  return readJson<ConsumerMetadata>(value, {});
}

export interface ConsumerListQuery {
  /** Consumer ids starting with this. */
  consumerIdPrefix?: string;
  /** Case-insensitive, anywhere in the consumer id, email, account or user name. */
  search?: string;
  /** Paging: only consumers whose id sorts after this one. */
  afterConsumerId?: string;
  limit: number;
}

/** The application's consumers matching the query, by consumer id. */
export async function listConsumers(db: Executor, applicationId: string, query: ConsumerListQuery): Promise<ConsumerRow[]> {
  let q = db.selectFrom('consumers').selectAll().where('application_id', '=', applicationId);
  if (query.consumerIdPrefix) q = q.where(like('consumer_id', escapeLike(query.consumerIdPrefix) + '%'));
  if (query.search) q = q.where(like('search_text', '%' + escapeLike(query.search.toLowerCase()) + '%'));
  if (query.afterConsumerId !== undefined) q = q.where('consumer_id', '>', query.afterConsumerId);
  return q.orderBy('consumer_id').limit(query.limit).execute();
}

export async function findConsumer(db: Executor, applicationId: string, consumerId: string): Promise<ConsumerRow | undefined> {
  return db.selectFrom('consumers').selectAll().where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).executeTakeFirst();
}

/**
 * The services each of these consumers has a connection to, sorted; consumers without any are absent. `consumerIds` is
 * a page of `listConsumers`, in its order.
 */
export async function servicesOfConsumers(db: Executor, applicationId: string, consumerIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (consumerIds.length === 0) return out;
  // The page's first and last ids (in the database's own order: its collation decides) bound an index range scan; the
  // list then keeps only the page's own consumers (a filtered page may skip ids in between). Without the range,
  // PostgreSQL may filter every connection of the application against the list.
  const rows = await db
    .selectFrom('connections')
    .select(['consumer_id', 'service_id'])
    .where('application_id', '=', applicationId)
    .where('consumer_id', '>=', consumerIds[0])
    .where('consumer_id', '<=', consumerIds[consumerIds.length - 1])
    .where('consumer_id', 'in', consumerIds)
    .orderBy('service_id')
    .execute();
  for (const r of rows) out.set(r.consumer_id, [...(out.get(r.consumer_id) ?? []), r.service_id]);
  return out;
}

/**
 * Deletes the consumer with its connections, consents, custom mappings and pending callback states, all or nothing,
 * and appends the events `connectionEvents` makes of the consumer's connection rows (read in the same transaction).
 */
export async function deleteConsumer(
  db: Executor,
  changes: ChangeFeed,
  applicationId: string,
  consumerId: string,
  connectionEvents: (trx: Transaction<Database>, connections: ConsumerConnectionRow[]) => Promise<OutboxRow[]>,
): Promise<void> {
  await atomically(db, async (trx) => {
    const connections = await trx.selectFrom('connections').selectAll().where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
    const events = await connectionEvents(trx, connections);
    for (const table of ['connections', 'consents', 'custom_mappings', 'callback_states'] as const) {
      await trx.deleteFrom(table).where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
    }
    await trx.deleteFrom('consumers').where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
    await insertEvents(trx, events);
    await changes.publish(trx, { applicationId, consumerId });
  });
}
