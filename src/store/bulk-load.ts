// Many consumers and connections at once (the scale benchmark seeds a million rows with it): multi-row inserts,
// committed a batch of statements at a time, as many rows a statement as the backend's parameter limit allows.
import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { ConnectionsTable, ConsumersTable } from './schema.js';
import { atomically } from './transaction.js';

/** Bound parameters one statement may carry: SQLite's default limit is 32 766, PostgreSQL's 65 535. */
const MAX_PARAMETERS = 32_000;
const ROWS_PER_TRANSACTION = 10_000;

async function insertAll<T extends 'consumers' | 'connections'>(db: Executor, table: T, rows: Array<Insertable<T extends 'consumers' ? ConsumersTable : ConnectionsTable>>): Promise<void> {
  if (rows.length === 0) return;
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / Object.keys(rows[0]).length));
  for (let start = 0; start < rows.length; start += ROWS_PER_TRANSACTION) {
    const chunk = rows.slice(start, start + ROWS_PER_TRANSACTION);
    await atomically(db, async (trx) => {
      for (let i = 0; i < chunk.length; i += perStatement) {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one body for both tables
        await trx.insertInto(table).values(chunk.slice(i, i + perStatement) as any).execute();
      }
    });
  }
}

/** Inserts consumers that do not exist yet (a duplicate fails the batch). */
export function insertConsumers(db: Executor, rows: Array<Insertable<ConsumersTable>>): Promise<void> {
  return insertAll(db, 'consumers', rows);
}

/** Inserts encoded connections (store/connection-record.ts `encodeConnection`) of existing consumers. */
export function insertConnections(db: Executor, rows: Array<Insertable<ConnectionsTable>>): Promise<void> {
  return insertAll(db, 'connections', rows);
}

/**
 * Refreshes the query planner's statistics of both tables: after a bulk load they describe the tables as they were, and
 * PostgreSQL may then scan a million rows where an index would read twenty (autovacuum catches up only later).
 */
export async function analyzeLoadedTables(db: Executor): Promise<void> {
  await sql`analyze consumers`.execute(db);
  await sql`analyze connections`.execute(db);
}
