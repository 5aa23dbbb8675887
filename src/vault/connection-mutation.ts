// The domain's side of the connection unit of work (store/connections.ts): who the connection belongs to, how a
// missing one starts, which settings are sealed, and which events a transition emits.
import type { ConnectorDefinition } from '../connectors/types.js';
import { outboxEvent, type VaultEventType } from '../events/outbox.js';
import type { ConnectionRecord } from '../store/connection-record.js';
import type { ConnectionChange, ConnectionKey } from '../store/connections.js';
import type { OutboxRow } from '../store/outbox.js';
import { consumerConnectionView, stateOfRecord, type LinkPolicy } from './connection-view.js';
import type { VaultContext } from './context.js';
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

export const connectionKey = (scope: Scope, serviceId: string): ConnectionKey => ({
  applicationId: scope.applicationId,
  consumerId: scope.consumerId,
  serviceId,
});

const sealed = new WeakMap<ConnectorDefinition, ReadonlySet<string>>();

/** The settings of `def` that are sealed at rest: its sensitive form fields. */
export function sealedSettings(def: ConnectorDefinition): ReadonlySet<string> {
  let ids = sealed.get(def);
  if (!ids) sealed.set(def, (ids = new Set(def.form_fields.filter((f) => f.sensitive).map((f) => f.id))));
  return ids;
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

/**
 * The connection, decoded, from the read model unless `fresh`; shared with other readers, so never mutate it (changes
 * go through mutateConnection).
 */
export function loadConnection(ctx: VaultContext, scope: Scope, serviceId: string, options: { fresh?: boolean } = {}): Promise<ConnectionRecord | null> {
  return ctx.connections.find(connectionKey(scope, serviceId), options);
}

/** One event about a connection, with its consumer view as the entity. */
export function connectionEvent(
  def: ConnectorDefinition,
  rec: ConnectionRecord,
  type: VaultEventType,
  unifiedApi = rec.unifiedApi,
  extra: Record<string, unknown> = {},
): OutboxRow {
  return outboxEvent(rec.applicationId, type, { ...consumerConnectionView(def, rec, unifiedApi), ...extra });
}

/** The events a write warrants: created/updated, disabled, callable, then `extra`. */
export function transitionEvents(def: ConnectorDefinition, unifiedApi: string, before: ConnectionRecord | null, after: ConnectionRecord, extra: VaultEventType[] = []): OutboxRow[] {
  const types: VaultEventType[] = [before ? 'vault.connection.updated' : 'vault.connection.created'];
  if (before?.enabled && !after.enabled) types.push('vault.connection.disabled');
  const wasCallable = before ? stateOfRecord(def, before) === 'callable' : false;
  if (!wasCallable && stateOfRecord(def, after) === 'callable') types.push('vault.connection.callable');
  types.push(...extra);
  const entity = consumerConnectionView(def, after, unifiedApi);
  return types.map((type) => outboxEvent(after.applicationId, type, entity));
}

export interface MutationOptions {
  /** Create the connection when it does not exist (otherwise: 404). */
  create: boolean;
  /** A connection created by this write is announced as created (blank), then updated: an OAuth callback's sequence. */
  announceBlank?: boolean;
  /** Events to emit after the transition's own; a function sees the records before and after. */
  extraEvents?: VaultEventType[] | ((before: ConnectionRecord | null, after: ConnectionRecord) => VaultEventType[]);
}

export interface MutationResult {
  record: ConnectionRecord;
  before: ConnectionRecord | null;
  created: boolean;
  /** False when the change found nothing to do (returned UNCHANGED). */
  written: boolean;
}

/**
 * Applies `change` to the connection through the unit of work: one transaction, compare-and-swap, the transition's
 * events in the outbox, and `change` applied again to the newer record when another writer got there first.
 */
export async function mutateConnection(
  ctx: VaultContext,
  scope: Scope,
  def: ConnectorDefinition,
  unifiedApi: string,
  options: MutationOptions,
  change: ConnectionChange,
): Promise<MutationResult> {
  const { extraEvents } = options;
  let blank: ConnectionRecord | null = null;
  const result = await ctx.connections.update(connectionKey(scope, def.id), change, {
    sealedSettings: sealedSettings(def),
    blank: options.create ? () => structuredClone((blank = blankConnection(scope, def, unifiedApi))) : undefined,
    events: (before, after) => {
      const extra = typeof extraEvents === 'function' ? extraEvents(before, after) : extraEvents;
      if (before || !options.announceBlank) return transitionEvents(def, unifiedApi, before, after, extra);
      return [connectionEvent(def, blank!, 'vault.connection.created', unifiedApi), ...transitionEvents(def, unifiedApi, blank!, after, extra)];
    },
  });
  if (!result) throw notFound('connection', `${unifiedApi}+${def.id}`);
  return result;
}
