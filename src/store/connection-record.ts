// A connection as the domain works with it, and its row: sensitive settings and tokens are sealed, bound to the row.
import type { Insertable, Selectable } from 'kysely';
import type { Keyring } from '../crypto/keyring.js';
import { readJson, type Executor } from './database.js';
import type { ConnectionsTable } from './schema.js';

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

async function openSecrets(keyring: Keyring, row: Selectable<ConnectionsTable>, db?: Executor) {
  const ctx = (field: string) => ({ applicationId: row.application_id, ownerId: row.id, field });
  return {
    settings: await keyring.openJson<Record<string, unknown>>(ctx('settings'), row.secrets, {}, db),
    credentials: await keyring.openJson<TokenSet | null>(ctx('credentials'), row.credentials, null, db),
  };
}

/** The record of a row, its secrets opened. */
export async function decodeConnection(keyring: Keyring, row: Selectable<ConnectionsTable>, db?: Executor): Promise<ConnectionRecord> {
  const clear = readJson<Record<string, unknown>>(row.settings, {});
  const secret = await openSecrets(keyring, row, db);
  return {
    id: row.id,
    applicationId: row.application_id,
    consumerId: row.consumer_id,
    serviceId: row.service_id,
    unifiedApi: row.unified_api,
    enabled: row.enabled === 1,
    settings: { ...clear, ...secret.settings },
    credentials: secret.credentials,
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

/** The row of `rec` without `version` and `updated_at` (the writer sets those); settings in `sealed` are sealed. */
export async function encodeConnection(
  keyring: Keyring,
  sealed: ReadonlySet<string>,
  rec: ConnectionRecord,
  db: Executor,
): Promise<Omit<Insertable<ConnectionsTable>, 'version' | 'updated_at'>> {
  const ctx = (field: string) => ({ applicationId: rec.applicationId, ownerId: rec.id, field });
  const clear: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rec.settings)) (sealed.has(key) ? secret : clear)[key] = value;
  const sealedSettings = Object.keys(secret).length ? await keyring.sealJson(ctx('settings'), secret, db) : null;
  const sealedCredentials = rec.credentials ? await keyring.sealJson(ctx('credentials'), rec.credentials, db) : null;
  return {
    id: rec.id,
    application_id: rec.applicationId,
    consumer_id: rec.consumerId,
    service_id: rec.serviceId,
    unified_api: rec.unifiedApi,
    enabled: rec.enabled ? 1 : 0,
    settings: JSON.stringify(clear),
    secrets: sealedSettings,
    credentials: sealedCredentials,
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
