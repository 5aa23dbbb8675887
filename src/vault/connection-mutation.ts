// One place where a connection changes: consumer upsert, CAS write and the events of the transition, in one transaction.
import type { Transaction } from 'kysely';
import type { ConnectorDefinition } from '../connectors/types.js';
import { outboxEvent, type VaultEventType } from '../events/outbox.js';
import { insertEvents } from '../store/outbox.js';
import type { Database } from '../store/schema.js';
import {
  decodeConnection,
  findConnectionRow,
  insertConnection,
  updateConnection,
  type ConnectionRecord,
} from './connection-record.js';
import { consumerConnectionView, stateOfRecord, type LinkPolicy } from './connection-view.js';
import type { VaultContext } from './context.js';
import { upsertConsumer } from '../store/consumers.js';
import { notFound } from './errors.js';
import { newId } from './ids.js';

export interface Scope {
  applicationId: string;
  consumerId: string;
  /** Set for session callers: the session's redirect_uri. */
  redirectUri?: string;
  /** Set for session callers: the links their `allow_actions` let connection views hand out. */
  links?: LinkPolicy;
  /** Set for session callers: false when the session's OAuth flows may complete in another browser. */
  browserBinding?: boolean;
}

export function blankConnection(scope: Scope, def: ConnectorDefinition, unifiedApi: string): ConnectionRecord {
  const now = Date.now();
  return {
    id: newId('conn'),
    applicationId: scope.applicationId,
    consumerId: scope.consumerId,
    serviceId: def.id,
    unifiedApi,
    enabled: true,
    settings: {},
    credentials: null,
    tokenExpiresAt: null,
    authStatus: 'ok',
    authError: null,
    confirmed: true,
    metadata: null,
    configuration: [],
    consentState: 'implicit',
    dataScopes: null,
    credentialsExpireAt: null,
    lastRefreshFailedAt: null,
    lastDownstreamErrorAt: null,
    version: 0,
    createdAt: now,
    updatedAt: now,
  };
}

export async function loadConnection(ctx: VaultContext, scope: Scope, serviceId: string, db = ctx.db): Promise<ConnectionRecord | null> {
  const row = await findConnectionRow(db, scope.applicationId, scope.consumerId, serviceId);
  return row ? decodeConnection(ctx.keyring, row, db) : null;
}

export interface MutationResult {
  record: ConnectionRecord;
  created: boolean;
}

/**
 * Writes `draft` (inserting it when `before` is null) with compare-and-swap, then appends the events the transition
 * warrants: created/updated, disabled, callable, plus `extraEvents`.
 */
export async function writeConnection(
  ctx: VaultContext,
  trx: Transaction<Database>,
  def: ConnectorDefinition,
  unifiedApi: string,
  before: ConnectionRecord | null,
  draft: ConnectionRecord,
  extraEvents: VaultEventType[] = [],
): Promise<ConnectionRecord> {
  const saved = before ? await updateConnection(ctx.keyring, def, draft, trx) : await insertConnection(ctx.keyring, def, draft, trx);
  const events: VaultEventType[] = [before ? 'vault.connection.updated' : 'vault.connection.created'];
  if (before?.enabled && !saved.enabled) events.push('vault.connection.disabled');
  const wasCallable = before ? stateOfRecord(def, before) === 'callable' : false;
  if (!wasCallable && stateOfRecord(def, saved) === 'callable') events.push('vault.connection.callable');
  events.push(...extraEvents);
  const entity = consumerConnectionView(def, saved, unifiedApi);
  await insertEvents(trx, events.map((type) => outboxEvent(saved.applicationId, type, entity)));
  return saved;
}

/** Applies `change` to the connection (creating it when `create` is set) inside one transaction; see writeConnection. */
export async function mutateConnection(
  ctx: VaultContext,
  scope: Scope,
  def: ConnectorDefinition,
  unifiedApi: string,
  options: { create: boolean; extraEvents?: VaultEventType[] },
  change: (rec: ConnectionRecord, trx: Transaction<Database>) => void | Promise<void>,
): Promise<MutationResult> {
  return ctx.db.transaction().execute(async (trx) => {
    await upsertConsumer(trx, scope.applicationId, scope.consumerId);
    const before = await loadConnection(ctx, scope, def.id, trx);
    if (!before && !options.create) throw notFound('connection', `${unifiedApi}+${def.id}`);
    const draft = before ? structuredClone(before) : blankConnection(scope, def, unifiedApi);
    await change(draft, trx);
    const record = await writeConnection(ctx, trx, def, unifiedApi, before, draft, options.extraEvents);
    return { record, created: !before };
  });
}

export async function emit(
  trx: Transaction<Database>,
  def: ConnectorDefinition,
  rec: ConnectionRecord,
  type: VaultEventType,
  unifiedApi = rec.unifiedApi,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await insertEvents(trx, [outboxEvent(rec.applicationId, type, { ...consumerConnectionView(def, rec, unifiedApi), ...extra })]);
}
