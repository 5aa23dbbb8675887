// Atomic repository functions open their own transaction, or join the caller's when they are handed one
// (kysely refuses a nested `transaction()`).
import type { Transaction } from 'kysely';
import type { Executor } from './database.js';
import type { Database } from './schema.js';

export function atomically<T>(db: Executor, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}
