// The applications repository: applications (tenants), their API keys and the connectors each one offers.
import { readJson, type Executor } from './database.js';
import { atomically } from './transaction.js';

export interface NewApiKey {
  id: string;
  /** Only the keyed hash of the key is stored, never the key. */
  keyHash: string;
  last4: string;
}

export interface NewApplication {
  id: string;
  name: string;
  apiKey: NewApiKey;
  /** Connectors enabled from the start. */
  serviceIds: string[];
  createdAt: number;
}

export interface ApiKeyRow {
  id: string;
  last4: string;
  created_at: number;
  revoked_at: number | null;
}

export interface AppConnectorRow {
  service_id: string;
  enabled: number;
  /** Sealed `{client_id, client_secret}`; null when the application has not set its own OAuth client. */
  client_sealed: string | null;
  scopes: string | null;
}

export async function applicationExists(db: Executor, applicationId: string): Promise<boolean> {
  const row = await db.selectFrom('applications').select('id').where('id', '=', applicationId).executeTakeFirst();
  return Boolean(row);
}

export async function countApplications(db: Executor): Promise<number> {
  const row = await db.selectFrom('applications').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Creates the application with its first API key and enabled connectors, all or nothing. `alsoInTransaction` runs
 * after the application row exists, for the writes another module owns (the application's first data key).
 */
export async function createApplication(
  db: Executor,
  application: NewApplication,
  alsoInTransaction: (trx: Executor) => Promise<unknown>,
): Promise<void> {
  const { id, createdAt: now } = application;
  await atomically(db, async (trx) => {
    await trx.insertInto('applications').values({ id, name: application.name, redirect_uris: '[]', created_at: now, updated_at: now }).execute();
    await alsoInTransaction(trx);
    await insertApiKey(trx, id, application.apiKey, now);
    for (const serviceId of application.serviceIds) {
      await trx
        .insertInto('app_connectors')
        .values({ application_id: id, service_id: serviceId, enabled: 1, client_sealed: null, scopes: null, created_at: now, updated_at: now })
        .execute();
    }
  });
}

/** The URIs OAuth flows may return to; [] for an unknown application. */
export async function redirectUris(db: Executor, applicationId: string): Promise<string[]> {
  const row = await db.selectFrom('applications').select('redirect_uris').where('id', '=', applicationId).executeTakeFirst();
  return readJson<string[]>(row?.redirect_uris, []);
}

export async function setRedirectUris(db: Executor, applicationId: string, uris: string[], now = Date.now()): Promise<void> {
  await db.updateTable('applications').set({ redirect_uris: JSON.stringify(uris), updated_at: now }).where('id', '=', applicationId).execute();
}

/** Hosts the proxy may send this application's credentials to besides each connector's own; [] when none are set. */
export async function proxyAllowedHosts(db: Executor, applicationId: string): Promise<string[]> {
  const row = await db.selectFrom('applications').select('proxy_allowed_hosts').where('id', '=', applicationId).executeTakeFirst();
  return readJson<string[] | null>(row?.proxy_allowed_hosts ?? null, null) ?? [];
}

export async function setProxyAllowedHosts(db: Executor, applicationId: string, hosts: string[], now = Date.now()): Promise<void> {
  await db.updateTable('applications').set({ proxy_allowed_hosts: JSON.stringify(hosts), updated_at: now }).where('id', '=', applicationId).execute();
}

/** Requests per minute the application may make; null for no limit (or an unknown application). */
export async function requestRateLimit(db: Executor, applicationId: string): Promise<number | null> {
  const row = await db.selectFrom('applications').select('rate_limit_per_minute').where('id', '=', applicationId).executeTakeFirst();
  return row?.rate_limit_per_minute == null ? null : Number(row.rate_limit_per_minute);
}

export async function setRequestRateLimit(db: Executor, applicationId: string, perMinute: number | null, now = Date.now()): Promise<void> {
  await db.updateTable('applications').set({ rate_limit_per_minute: perMinute, updated_at: now }).where('id', '=', applicationId).execute();
}

export async function insertApiKey(db: Executor, applicationId: string, key: NewApiKey, now = Date.now()): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({ id: key.id, application_id: applicationId, key_hash: key.keyHash, last4: key.last4, created_at: now, revoked_at: null })
    .execute();
}

/** Oldest first, revoked ones included. */
export async function listApiKeys(db: Executor, applicationId: string): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').select(['id', 'last4', 'created_at', 'revoked_at']).where('application_id', '=', applicationId).orderBy('created_at').execute();
}

/** False when the application has no such key or it is already revoked. */
export async function revokeApiKey(db: Executor, applicationId: string, keyId: string, now = Date.now()): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('application_id', '=', applicationId)
    .where('id', '=', keyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * The application an active key belongs to, or null for an unknown or revoked key. Not scoped by application:
 * this is the lookup that tells which tenant a caller is.
 */
export async function applicationOfApiKey(db: Executor, keyHash: string): Promise<string | null> {
  const row = await db.selectFrom('api_keys').select(['application_id', 'revoked_at']).where('key_hash', '=', keyHash).executeTakeFirst();
  return !row || row.revoked_at !== null ? null : row.application_id;
}

export async function findAppConnector(db: Executor, applicationId: string, serviceId: string): Promise<AppConnectorRow | undefined> {
  return db
    .selectFrom('app_connectors')
    .select(['service_id', 'enabled', 'client_sealed', 'scopes'])
    .where('application_id', '=', applicationId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
}

/** Every connector row of the application, enabled or not (connectors without a row are not offered). */
export async function listAppConnectors(db: Executor, applicationId: string): Promise<AppConnectorRow[]> {
  return db.selectFrom('app_connectors').select(['service_id', 'enabled', 'client_sealed', 'scopes']).where('application_id', '=', applicationId).execute();
}

/** Creates or replaces the application's settings of one connector; created_at stays that of the first save. */
export async function saveAppConnector(
  db: Executor,
  applicationId: string,
  serviceId: string,
  values: { enabled: boolean; clientSealed: string | null; scopes: string | null },
  now = Date.now(),
): Promise<void> {
  const changes = { enabled: values.enabled ? 1 : 0, client_sealed: values.clientSealed, scopes: values.scopes, updated_at: now };
  await db
    .insertInto('app_connectors')
    .values({ application_id: applicationId, service_id: serviceId, ...changes, created_at: now })
    .onConflict((oc) => oc.columns(['application_id', 'service_id']).doUpdateSet(changes))
    .execute();
}
