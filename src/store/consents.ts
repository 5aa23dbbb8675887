// The consents repository: an immutable trail of consent records per connection.
import type { Selectable } from 'kysely';
import type { ConnectionKey } from './connections.js';
import type { Executor } from './database.js';
import type { ConsentsTable } from './schema.js';

export async function listConsentRows(db: Executor, key: ConnectionKey): Promise<Selectable<ConsentsTable>[]> {
  return db
    .selectFrom('consents')
    .selectAll()
    .where('application_id', '=', key.applicationId)
    .where('consumer_id', '=', key.consumerId)
    .where('service_id', '=', key.serviceId)
    .orderBy('id')
    .execute();
}

export async function insertConsent(db: Executor, key: ConnectionKey, consent: { id: string; granted: boolean; resources: unknown; createdAt: number }): Promise<void> {
  await db
    .insertInto('consents')
    .values({
      id: consent.id,
      application_id: key.applicationId,
      consumer_id: key.consumerId,
      service_id: key.serviceId,
      granted: consent.granted ? 1 : 0,
      resources: JSON.stringify(consent.resources),
      created_at: consent.createdAt,
    })
    .execute();
}
