// Consent records: an immutable trail per connection; the latest one sets `consent_state`.
import type { Kysely, Transaction } from 'kysely';
import { readJson } from '../store/database.js';
import type { Database } from '../store/schema.js';
import type { ConsentRecordView } from './connection-view.js';
import { newId } from './ids.js';
import type { Scope } from './connection-mutation.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function listConsents(db: Db, scope: Scope, serviceId: string): Promise<ConsentRecordView[]> {
  const rows = await db
    .selectFrom('consents')
    .selectAll()
    .where('application_id', '=', scope.applicationId)
    .where('consumer_id', '=', scope.consumerId)
    .where('service_id', '=', serviceId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, created_at: new Date(r.created_at).toISOString(), granted: r.granted === 1, resources: readJson(r.resources, '*') }));
}

export async function addConsent(db: Db, scope: Scope, serviceId: string, granted: boolean, resources: unknown): Promise<ConsentRecordView> {
  const now = Date.now();
  const id = newId('con');
  await db
    .insertInto('consents')
    .values({
      id,
      application_id: scope.applicationId,
      consumer_id: scope.consumerId,
      service_id: serviceId,
      granted: granted ? 1 : 0,
      resources: JSON.stringify(resources),
      created_at: now,
    })
    .execute();
  return { id, created_at: new Date(now).toISOString(), granted, resources };
}

export function consentStateAfter(previous: string, granted: boolean): string {
  if (granted) return 'granted';
  return previous === 'granted' ? 'revoked' : 'denied';
}
