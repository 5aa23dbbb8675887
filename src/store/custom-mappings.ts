// The custom-mappings repository: one JSONPath per (connection, target field).
import { atomically } from './transaction.js';
import type { ChangeFeed } from './change-feed.js';
import type { ConnectionKey } from './connections.js';
import { upsertConsumer } from './consumers.js';
import type { Executor } from './database.js';

export interface MappingKey extends ConnectionKey {
  unifiedApi: string;
}

export interface MappingRow {
  target_field_id: string;
  value: string;
  consumer_id: string;
}

const owned = (db: Executor, key: MappingKey) =>
  db
    .selectFrom('custom_mappings')
    .select(['target_field_id', 'value', 'consumer_id'])
    .where('application_id', '=', key.applicationId)
    .where('consumer_id', '=', key.consumerId)
    .where('unified_api', '=', key.unifiedApi)
    .where('service_id', '=', key.serviceId);

/** The mappings of a connection, by target field id; with `targetPrefix` only those whose id starts with it. */
export async function listMappingRows(db: Executor, key: MappingKey, targetPrefix?: string): Promise<MappingRow[]> {
  let query = owned(db, key);
  if (targetPrefix) query = query.where('target_field_id', 'like', `${targetPrefix}%`);
  return query.orderBy('target_field_id').execute();
}

export async function findMappingRow(db: Executor, key: MappingKey, targetFieldId: string): Promise<MappingRow | undefined> {
  return owned(db, key).where('target_field_id', '=', targetFieldId).executeTakeFirst();
}

/** The primary key of one mapping. */
const mappingId = (key: MappingKey, targetFieldId: string) => ({
  application_id: key.applicationId,
  consumer_id: key.consumerId,
  unified_api: key.unifiedApi,
  service_id: key.serviceId,
  target_field_id: targetFieldId,
});

/** Creates or replaces the mapping; `mode: 'update'` changes an existing one only. Returns whether a row was written. */
export async function writeMapping(db: Executor, key: MappingKey, targetFieldId: string, value: string, mode: 'create' | 'update' | 'upsert'): Promise<boolean> {
  const now = Date.now();
  const id = mappingId(key, targetFieldId);
  if (mode === 'update') {
    const result = await db.updateTable('custom_mappings').set({ value, updated_at: now }).where((eb) => eb.and(id)).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  await db
    .insertInto('custom_mappings')
    .values({ ...id, value, created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['application_id', 'consumer_id', 'unified_api', 'service_id', 'target_field_id']).doUpdateSet({ value, updated_at: now }))
    .execute();
  return true;
}

/** A mapping written on its own (not with a connection change): the consumer is created with it, in one transaction. */
export async function writeMappingForConsumer(db: Executor, changes: ChangeFeed, key: MappingKey, targetFieldId: string, value: string, mode: 'create' | 'update'): Promise<boolean> {
  return atomically(db, async (tx) => {
    await upsertConsumer(tx, key.applicationId, key.consumerId);
    const written = await writeMapping(tx, key, targetFieldId, value, mode);
    if (written) await changes.publish(tx, connectionScope(key));
    return written;
  });
}

export async function deleteMapping(db: Executor, changes: ChangeFeed, key: MappingKey, targetFieldId: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    const result = await tx.deleteFrom('custom_mappings').where((eb) => eb.and(mappingId(key, targetFieldId))).executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await changes.publish(tx, connectionScope(key));
    return deleted;
  });
}

/** What read models drop when a mapping changes: the connection it belongs to (cached with its mappings). */
const connectionScope = (key: MappingKey) => ({ applicationId: key.applicationId, consumerId: key.consumerId, serviceId: key.serviceId });
