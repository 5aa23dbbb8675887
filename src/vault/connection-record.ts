// Reading and writing one connection row: sensitive settings and tokens are sealed, bound to the row.
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { ConnectorDefinition } from '../connectors/types.js';
import type { Keyring } from '../crypto/keyring.js';
import { readJson } from '../store/database.js';
import type { ConnectionsTable, Database } from '../store/schema.js';
import { conflict } from './errors.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface TokenSet {
  access_token: string;
  refresh_token?: string | null;
  token_type?: string | null;
  scope?: string | null;
}

export interface ConfigurationDefault {
  id: string;
  value: unknown;
}
export interface StoredConfiguration {
  resource: string;
  defaults: ConfigurationDefault[];
}

export interface DataScopes {
  enabled?: boolean;
  updated_at?: string;
  resources?: unknown;
}

/** A connection as the domain works with it: every secret opened. */
export interface ConnectionRecord {
  id: string;
  applicationId: string;
  consumerId: string;
  serviceId: string;
  unifiedApi: string;
  enabled: boolean;
  settings: Record<string, unknown>;
  credentials: TokenSet | null;
  tokenExpiresAt: number | null;
  authStatus: 'ok' | 'invalid' | 'revoked';
  authError: string | null;
  confirmed: boolean;
  metadata: Record<string, unknown> | null;
  configuration: StoredConfiguration[];
  consentState: string;
  dataScopes: DataScopes | null;
  credentialsExpireAt: number | null;
  lastRefreshFailedAt: number | null;
  lastDownstreamErrorAt: number | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export function sensitiveFieldIds(def: ConnectorDefinition): Set<string> {
  return new Set(def.form_fields.filter((f) => f.sensitive).map((f) => f.id));
}

export async function findConnectionRow(
  db: Db,
  applicationId: string,
  consumerId: string,
  serviceId: string,
): Promise<Selectable<ConnectionsTable> | undefined> {
  return db
    .selectFrom('connections')
    .selectAll()
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
}

export async function decodeConnection(keyring: Keyring, row: Selectable<ConnectionsTable>, db?: Db): Promise<ConnectionRecord> {
  const ctx = (field: string) => ({ applicationId: row.application_id, ownerId: row.id, field });
  const clear = readJson<Record<string, unknown>>(row.settings, {});
  const secret = await keyring.openJson<Record<string, unknown>>(ctx('settings'), row.secrets, {}, db);
  return {
    id: row.id,
    applicationId: row.application_id,
    consumerId: row.consumer_id,
    serviceId: row.service_id,
    unifiedApi: row.unified_api,
    enabled: row.enabled === 1,
    settings: { ...clear, ...secret },
    credentials: await keyring.openJson<TokenSet | null>(ctx('credentials'), row.credentials, null, db),
    tokenExpiresAt: row.token_expires_at,
    authStatus: row.auth_status as ConnectionRecord['authStatus'],
    authError: row.auth_error,
    confirmed: row.confirmed === 1,
    metadata: readJson<Record<string, unknown> | null>(row.metadata, null),
    configuration: readJson<StoredConfiguration[]>(row.configuration, []),
    consentState: row.consent_state,
    dataScopes: readJson<DataScopes | null>(row.data_scopes, null),
    credentialsExpireAt: row.credentials_expire_at,
    lastRefreshFailedAt: row.last_refresh_failed_at,
    lastDownstreamErrorAt: row.last_downstream_error_at,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function encode(keyring: Keyring, def: ConnectorDefinition, rec: ConnectionRecord, db: Db) {
  const ctx = (field: string) => ({ applicationId: rec.applicationId, ownerId: rec.id, field });
  const sensitive = sensitiveFieldIds(def);
  const clear: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rec.settings)) (sensitive.has(key) ? secret : clear)[key] = value;
  return {
    id: rec.id,
    application_id: rec.applicationId,
    consumer_id: rec.consumerId,
    service_id: rec.serviceId,
    unified_api: rec.unifiedApi,
    enabled: rec.enabled ? 1 : 0,
    settings: JSON.stringify(clear),
    secrets: Object.keys(secret).length ? await keyring.sealJson(ctx('settings'), secret, db) : null,
    credentials: rec.credentials ? await keyring.sealJson(ctx('credentials'), rec.credentials, db) : null,
    token_expires_at: rec.tokenExpiresAt,
    auth_status: rec.authStatus,
    auth_error: rec.authError,
    confirmed: rec.confirmed ? 1 : 0,
    metadata: rec.metadata === null ? null : JSON.stringify(rec.metadata),
    configuration: JSON.stringify(rec.configuration),
    consent_state: rec.consentState,
    data_scopes: rec.dataScopes === null ? null : JSON.stringify(rec.dataScopes),
    credentials_expire_at: rec.credentialsExpireAt,
    last_refresh_failed_at: rec.lastRefreshFailedAt,
    last_downstream_error_at: rec.lastDownstreamErrorAt,
    created_at: rec.createdAt,
  };
}

export async function insertConnection(keyring: Keyring, def: ConnectorDefinition, rec: ConnectionRecord, db: Db): Promise<ConnectionRecord> {
  const now = Date.now();
  const values = await encode(keyring, def, rec, db);
  await db.insertInto('connections').values({ ...values, version: 1, updated_at: now }).execute();
  return { ...rec, version: 1, updatedAt: now };
}

/** Compare-and-swap on `version`: a concurrent writer makes this fail rather than be overwritten. */
export async function updateConnection(keyring: Keyring, def: ConnectorDefinition, rec: ConnectionRecord, db: Db): Promise<ConnectionRecord> {
  const now = Math.max(Date.now(), rec.updatedAt);
  const { id, application_id, created_at, ...values } = await encode(keyring, def, rec, db);
  const result = await db
    .updateTable('connections')
    .set({ ...values, version: rec.version + 1, updated_at: now })
    .where('id', '=', id)
    .where('application_id', '=', application_id)
    .where('version', '=', rec.version)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw conflict('The connection was changed by another request; retry');
  return { ...rec, version: rec.version + 1, updatedAt: now };
}
