// The outbox repository: events are inserted in the transaction that made the change; the dispatcher reads them later.
import type { Insertable, Selectable, Transaction } from 'kysely';
import type { Dialect, Executor } from './database.js';
import type { Database, OutboxTable } from './schema.js';

export type OutboxRow = Insertable<OutboxTable>;
/** What fan-out needs of an event: whose it is, what it is and when it happened. */
export type UndeliveredEvent = Pick<Selectable<OutboxTable>, 'id' | 'application_id' | 'event_type' | 'created_at'>;
/** What a delivery attempt sends: the stored envelope and what the attempt log records about it. */
export type EventToDeliver = Pick<Selectable<OutboxTable>, 'id' | 'application_id' | 'event_type' | 'consumer_id' | 'service_id' | 'payload'>;

let appended = 0;

/** How many events this process has appended so far: a dispatcher compares it to wake up without polling the table. */
export const eventsAppended = (): number => appended;

export async function insertEvents(db: Executor, rows: OutboxRow[]): Promise<void> {
  if (!rows.length) return;
  await db.insertInto('outbox').values(rows).execute();
  appended += rows.length;
}

/**
 * The oldest events not yet handed to the subscriptions, across all applications (the dispatcher serves them all).
 * On PostgreSQL the rows stay locked until `trx` ends and rows another dispatcher holds are skipped
 * (`FOR UPDATE SKIP LOCKED`), so instances fanning out at once take different events; SQLite has one writer.
 */
export async function lockUndeliveredEvents(trx: Transaction<Database>, dialect: Dialect, limit: number): Promise<UndeliveredEvent[]> {
  let query = trx.selectFrom('outbox').select(['id', 'application_id', 'event_type', 'created_at']).where('delivered_at', 'is', null).orderBy('id').limit(limit);
  if (dialect === 'postgres') query = query.forUpdate().skipLocked();
  return query.execute();
}

/** Marks events as handed to their subscriptions. `onlyIfPending` keeps the time of an earlier hand-over. */
export async function markEventsDelivered(db: Executor, ids: string[], now: number, options: { onlyIfPending?: boolean } = {}): Promise<void> {
  if (ids.length === 0) return;
  let query = db.updateTable('outbox').set({ delivered_at: now }).where('id', 'in', ids);
  if (options.onlyIfPending) query = query.where('delivered_at', 'is', null);
  await query.execute();
}

export async function findEvent(db: Executor, applicationId: string, id: string): Promise<Pick<UndeliveredEvent, 'id' | 'event_type'> | undefined> {
  return db.selectFrom('outbox').select(['id', 'event_type']).where('application_id', '=', applicationId).where('id', '=', id).executeTakeFirst();
}

/** The events of claimed deliveries, by id across applications (the caller matches each to its delivery's application). */
export async function findEventsToDeliver(db: Executor, ids: string[]): Promise<EventToDeliver[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('outbox').select(['id', 'application_id', 'event_type', 'consumer_id', 'service_id', 'payload']).where('id', 'in', ids).execute();
}
