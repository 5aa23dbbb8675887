// Consent records: an immutable trail per connection; the latest one sets `consent_state`.
import type { Selectable } from 'kysely';
import { readJson, type Executor } from '../store/database.js';
import type { ConsentsTable } from '../store/schema.js';
import { insertConsent, listConsentRows } from '../store/consents.js';
import type { ConsentRecordView } from './connection-view.js';
import { newId } from './ids.js';
import type { Scope } from './connection-mutation.js';

export const consentView = (r: Selectable<ConsentsTable>): ConsentRecordView => ({
  id: r.id,
  created_at: new Date(r.created_at).toISOString(),
  granted: r.granted === 1,
  resources: readJson(r.resources, '*'),
});

export async function listConsents(db: Executor, scope: Scope, serviceId: string): Promise<ConsentRecordView[]> {
  const rows = await listConsentRows(db, { applicationId: scope.applicationId, consumerId: scope.consumerId, serviceId });
  return rows.map(consentView);
}

export async function addConsent(db: Executor, scope: Scope, serviceId: string, granted: boolean, resources: unknown): Promise<ConsentRecordView> {
  const consent = { id: newId('con'), granted, resources, createdAt: Date.now() };
  await insertConsent(db, { applicationId: scope.applicationId, consumerId: scope.consumerId, serviceId }, consent);
  return { id: consent.id, created_at: new Date(consent.createdAt).toISOString(), granted, resources };
}

export function consentStateAfter(previous: string, granted: boolean): string {
  if (granted) return 'granted';
  return previous === 'granted' ? 'revoked' : 'denied';
}
