// The consumers repository: one row per (application, consumer).
import { readJson, type Executor } from './database.js';

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
export async function upsertConsumer(db: Executor, applicationId: string, consumerId: string, metadata?: ConsumerMetadata): Promise<void> {
  const now = Date.now();
  const existing = await db
    .selectFrom('consumers')
    .select(['metadata'])
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .executeTakeFirst();
  if (!existing) {
    const meta = metadata ?? {};
    await db
      .insertInto('consumers')
      .values({
        application_id: applicationId,
        consumer_id: consumerId,
        metadata: JSON.stringify(meta),
        search_text: searchText(consumerId, meta),
        request_count_unify: 0,
        request_count_proxy: 0,
        request_count_vault: 0,
        request_count_updated: null,
        created_at: now,
        updated_at: now,
      })
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
