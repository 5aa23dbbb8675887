// The data keys repository: each application's data keys, wrapped by a master key. One key per application is active
// (new values are sealed with it); the others stay to open what they sealed.
import { atomically } from './transaction.js';
import type { Executor } from './database.js';
import type { DataKeysTable } from './schema.js';

export type NewDataKey = Omit<DataKeysTable, 'application_id' | 'active'>;
export type WrappedDataKey = Pick<DataKeysTable, 'master_key_id' | 'wrapped'>;

/**
 * Adds `key` as the application's active data key, deactivating the previous one. Both statements run in one
 * transaction: the caller's when `db` is one (a new application and its first key land together), else their own.
 */
export async function createActiveDataKey(db: Executor, applicationId: string, key: NewDataKey): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.updateTable('data_keys').set({ active: 0 }).where('application_id', '=', applicationId).execute();
    await tx.insertInto('data_keys').values({ ...key, application_id: applicationId, active: 1 }).execute();
  });
}

export async function findDataKey(db: Executor, applicationId: string, id: string): Promise<WrappedDataKey | undefined> {
  return db.selectFrom('data_keys').select(['master_key_id', 'wrapped']).where('id', '=', id).where('application_id', '=', applicationId).executeTakeFirst();
}

export async function findActiveDataKeyId(db: Executor, applicationId: string): Promise<string | undefined> {
  const row = await db.selectFrom('data_keys').select('id').where('application_id', '=', applicationId).where('active', '=', 1).executeTakeFirst();
  return row?.id;
}
