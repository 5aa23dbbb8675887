// The outbox repository: events are inserted in the transaction that made the change; the dispatcher reads them later.
import type { Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { OutboxTable } from './schema.js';

export type OutboxRow = Insertable<OutboxTable>;

let appended = 0;

/** How many events this process has appended so far: a dispatcher compares it to wake up without polling the table. */
export const eventsAppended = (): number => appended;

export async function insertEvents(db: Executor, rows: OutboxRow[]): Promise<void> {
  if (!rows.length) return;
  await db.insertInto('outbox').values(rows).execute();
  appended += rows.length;
}
