// Atomic repository functions open their own transaction, or join the caller's when they are handed one
// (kysely refuses a nested `transaction()`).
import type { Transaction } from 'kysely';
import type { Executor } from './database.js';
import type { Database } from './schema.js';

type AfterCommit = () => void | Promise<void>;

/** Work to run once the outermost transaction has committed (never when it rolls back). */
const pendingAfterCommit = new WeakMap<object, AfterCommit[]>();

export async function atomically<T>(db: Executor, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db as Transaction<Database>);
  let opened: object | null = null;
  const result = await db.transaction().execute((trx) => {
    opened = trx;
    pendingAfterCommit.set(trx, []);
    return work(trx);
  });
  const callbacks = pendingAfterCommit.get(opened!) ?? [];
  pendingAfterCommit.delete(opened!);
  await Promise.all(callbacks.map((callback) => callback()));
  return result;
}

/**
 * Runs `callback` after `db`'s transaction commits, or at once when `db` is not a transaction opened by `atomically`
 * (the statement before it has then already committed on its own).
 */
export async function afterCommit(db: Executor, callback: AfterCommit): Promise<void> {
  const pending = db.isTransaction ? pendingAfterCommit.get(db) : undefined;
  if (pending) pending.push(callback);
  else await callback();
}
