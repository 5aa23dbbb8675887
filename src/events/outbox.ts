// The events Coffer emits and the outbox row each one becomes.
import type { OutboxRow } from '../store/outbox.js';
import { uuidv7 } from '../vault/ids.js';

export type VaultEventType =
  | 'vault.connection.created'
  | 'vault.connection.updated'
  | 'vault.connection.disabled'
  | 'vault.connection.deleted'
  | 'vault.connection.callable'
  | 'vault.connection.revoked'
  | 'vault.connection.migrated'
  | 'vault.connection.token_refresh.failed'
  | 'vault.connection.token_refresh.pending'
  | 'vault.connection.token_refresh.recovered'
  | 'vault.connection.downstream.degraded'
  | 'vault.connection.downstream.recovered';

/** Who emits the events, in Apideck's `payload.service_id`. */
export const EVENT_EMITTER = 'coffer-vault';

export interface ConnectionEventEntity {
  id: string;
  consumer_id: string;
  service_id: string;
  [key: string]: unknown;
}

/** The outbox row of one event: built here, inserted by the unit of work that made the change. */
export function outboxEvent(applicationId: string, eventType: VaultEventType, entity: ConnectionEventEntity, now = Date.now()): OutboxRow {
  const eventId = uuidv7(now);
  const payload = {
    payload: {
      event_id: eventId,
      event_type: eventType,
      service_id: EVENT_EMITTER,
      entity_id: entity.id,
      entity_type: 'Connection',
      entity,
      execution_attempt: 0,
      occurred_at: new Date(now).toISOString(),
    },
  };
  return {
    id: eventId,
    application_id: applicationId,
    event_type: eventType,
    consumer_id: entity.consumer_id,
    service_id: entity.service_id,
    payload: JSON.stringify(payload),
    next_attempt_at: now,
    delivered_at: null,
    created_at: now,
  };
}
