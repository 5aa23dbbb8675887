// Applications (tenants), their API keys and the connectors they enable.
import crypto from 'node:crypto';
import { readJson } from '../store/database.js';
import type { VaultContext } from './context.js';
import { badRequest, notFound, VaultError } from './errors.js';
import { newId } from './ids.js';
import { normalizeHostEntry } from '../connectors/url-template.js';

export interface CreatedApplication {
  application_id: string;
  api_key: string;
}

export interface ApiKeyInfo {
  id: string;
  last4: string;
  created_at: string;
  revoked_at: string | null;
}

export interface AppConnectorInfo {
  service_id: string;
  name: string;
  auth_type: string;
  enabled: boolean;
  client_id_configured: boolean;
  scopes: string[] | null;
}

const APP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function generateApiKey(): string {
  return 'cof_' + crypto.randomBytes(32).toString('base64url');
}

/** After any change to keys or enabled connectors: drop this process's cache and tell the others. */
async function configurationChanged(ctx: VaultContext): Promise<void> {
  ctx.cache.clear();
  await ctx.changes.announce(ctx.db);
}

export async function applicationExists(ctx: VaultContext, applicationId: string): Promise<boolean> {
  const row = await ctx.db.selectFrom('applications').select('id').where('id', '=', applicationId).executeTakeFirst();
  return Boolean(row);
}

async function requireApplication(ctx: VaultContext, applicationId: string): Promise<void> {
  if (!(await applicationExists(ctx, applicationId))) throw notFound('application', applicationId);
}

export async function countApplications(ctx: VaultContext): Promise<number> {
  const row = await ctx.db.selectFrom('applications').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function createApplication(
  ctx: VaultContext,
  options: { id?: string; name?: string; enableConnectors?: boolean } = {},
): Promise<CreatedApplication> {
  const id = options.id ?? newId('app');
  if (!APP_ID.test(id)) throw badRequest(`Application id "${id}" may only hold letters, digits, "_", "." and "-" (1-128 characters)`);
  if (await applicationExists(ctx, id)) throw new VaultError(409, 'ConflictError', `Application ${id} already exists`);
  const now = Date.now();
  const apiKey = generateApiKey();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('applications')
      .values({ id, name: options.name ?? id, redirect_uris: '[]', created_at: now, updated_at: now })
      .execute();
    await ctx.keyring.createDataKey(id, trx);
    await trx
      .insertInto('api_keys')
      .values({ id: newId('key'), application_id: id, key_hash: ctx.keyring.hashApiKey(apiKey), last4: apiKey.slice(-4), created_at: now, revoked_at: null })
      .execute();
    if (options.enableConnectors !== false) {
      for (const def of ctx.catalogue.all()) {
        await trx
          .insertInto('app_connectors')
          .values({ application_id: id, service_id: def.id, enabled: 1, client_sealed: null, scopes: null, created_at: now, updated_at: now })
          .execute();
      }
    }
  });
  await configurationChanged(ctx);
  return { application_id: id, api_key: apiKey };
}

export async function setRedirectUris(ctx: VaultContext, applicationId: string, uris: string[]): Promise<string[]> {
  await requireApplication(ctx, applicationId);
  for (const uri of uris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw badRequest(`"${uri}" is not an absolute URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest(`"${uri}" must be an http(s) URL`);
  }
  await ctx.db
    .updateTable('applications')
    .set({ redirect_uris: JSON.stringify(uris), updated_at: Date.now() })
    .where('id', '=', applicationId)
    .execute();
  return uris;
}

export async function setProxyAllowedHosts(ctx: VaultContext, applicationId: string, hosts: string[]): Promise<string[]> {
  await requireApplication(ctx, applicationId);
  const normalized = [...new Set(hosts.map(normalizeHostEntry))];
  await ctx.db
    .updateTable('applications')
    .set({ proxy_allowed_hosts: JSON.stringify(normalized), updated_at: Date.now() })
    .where('id', '=', applicationId)
    .execute();
  await configurationChanged(ctx);
  return normalized;
}

/** The application's proxy allow-list (cached with the rest of the tenant configuration). */
export async function proxyAllowedHosts(ctx: VaultContext, applicationId: string): Promise<string[]> {
  const cached = ctx.cache.proxyHostsOf(applicationId);
  if (cached) return cached;
  const row = await ctx.db.selectFrom('applications').select('proxy_allowed_hosts').where('id', '=', applicationId).executeTakeFirst();
  const hosts = readJson<string[] | null>(row?.proxy_allowed_hosts ?? null, null) ?? [];
  ctx.cache.rememberProxyHosts(applicationId, hosts);
  return hosts;
}

/** Highest per-application limit accepted: a typo of a few zeros should not read as "no limit". */
export const MAX_REQUESTS_PER_MINUTE = 1_000_000;

/** Sets (a whole number of requests per minute) or clears (null) the application's request limit. */
export async function setRequestRateLimit(ctx: VaultContext, applicationId: string, perMinute: number | null): Promise<number | null> {
  if (perMinute !== null && (!Number.isInteger(perMinute) || perMinute < 1 || perMinute > MAX_REQUESTS_PER_MINUTE)) {
    throw badRequest(`The rate limit must be a whole number of requests per minute from 1 to ${MAX_REQUESTS_PER_MINUTE}, or 0/off for none`);
  }
  await requireApplication(ctx, applicationId);
  await ctx.db
    .updateTable('applications')
    .set({ rate_limit_per_minute: perMinute, updated_at: Date.now() })
    .where('id', '=', applicationId)
    .execute();
  await configurationChanged(ctx);
  return perMinute;
}

/** The application's requests-per-minute limit, null for none (cached with the rest of the tenant configuration). */
export async function requestRateLimit(ctx: VaultContext, applicationId: string): Promise<number | null> {
  const cached = ctx.cache.requestLimitOf(applicationId);
  if (cached !== undefined) return cached;
  const row = await ctx.db.selectFrom('applications').select('rate_limit_per_minute').where('id', '=', applicationId).executeTakeFirst();
  const limit = row?.rate_limit_per_minute == null ? null : Number(row.rate_limit_per_minute);
  ctx.cache.rememberRequestLimit(applicationId, limit);
  return limit;
}

export async function createApiKey(ctx: VaultContext, applicationId: string): Promise<{ id: string; api_key: string }> {
  await requireApplication(ctx, applicationId);
  const apiKey = generateApiKey();
  const id = newId('key');
  await ctx.db
    .insertInto('api_keys')
    .values({ id, application_id: applicationId, key_hash: ctx.keyring.hashApiKey(apiKey), last4: apiKey.slice(-4), created_at: Date.now(), revoked_at: null })
    .execute();
  await configurationChanged(ctx);
  return { id, api_key: apiKey };
}

export async function listApiKeys(ctx: VaultContext, applicationId: string): Promise<ApiKeyInfo[]> {
  await requireApplication(ctx, applicationId);
  const rows = await ctx.db.selectFrom('api_keys').selectAll().where('application_id', '=', applicationId).orderBy('created_at').execute();
  return rows.map((r) => ({
    id: r.id,
    last4: r.last4,
    created_at: new Date(r.created_at).toISOString(),
    revoked_at: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}

export async function revokeApiKey(ctx: VaultContext, applicationId: string, keyId: string): Promise<void> {
  const result = await ctx.db
    .updateTable('api_keys')
    .set({ revoked_at: Date.now() })
    .where('application_id', '=', applicationId)
    .where('id', '=', keyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw notFound('active API key', keyId);
  await configurationChanged(ctx);
}

/** Returns the application the key belongs to, or null for an unknown or revoked key. */
export async function authenticateApiKey(ctx: VaultContext, apiKey: string): Promise<string | null> {
  const hash = ctx.keyring.hashApiKey(apiKey);
  const cached = ctx.cache.applicationOfKey(hash);
  if (cached) return cached;
  const row = await ctx.db.selectFrom('api_keys').select(['application_id', 'revoked_at']).where('key_hash', '=', hash).executeTakeFirst();
  if (!row || row.revoked_at !== null) return null;
  ctx.cache.rememberKey(hash, row.application_id);
  return row.application_id;
}

export async function setConnectorEnabled(
  ctx: VaultContext,
  applicationId: string,
  serviceId: string,
  enabled: boolean,
  client: { clientId?: string; clientSecret?: string; scopes?: string[] } = {},
): Promise<void> {
  await requireApplication(ctx, applicationId);
  if (!ctx.catalogue.get(serviceId)) throw notFound('connector', serviceId);
  const now = Date.now();
  const existing = await ctx.db
    .selectFrom('app_connectors')
    .selectAll()
    .where('application_id', '=', applicationId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
  let clientSealed = existing?.client_sealed ?? null;
  if (client.clientId !== undefined || client.clientSecret !== undefined) {
    const current = await ctx.keyring.openJson<{ client_id?: string; client_secret?: string }>(
      { applicationId, ownerId: serviceId, field: 'oauth_client' },
      clientSealed,
      {},
    );
    clientSealed = await ctx.keyring.sealJson(
      { applicationId, ownerId: serviceId, field: 'oauth_client' },
      { client_id: client.clientId ?? current.client_id, client_secret: client.clientSecret ?? current.client_secret },
    );
  }
  const scopes = client.scopes ? client.scopes.join(' ') : (existing?.scopes ?? null);
  if (existing) {
    await ctx.db
      .updateTable('app_connectors')
      .set({ enabled: enabled ? 1 : 0, client_sealed: clientSealed, scopes, updated_at: now })
      .where('application_id', '=', applicationId)
      .where('service_id', '=', serviceId)
      .execute();
  } else {
    await ctx.db
      .insertInto('app_connectors')
      .values({ application_id: applicationId, service_id: serviceId, enabled: enabled ? 1 : 0, client_sealed: clientSealed, scopes, created_at: now, updated_at: now })
      .execute();
  }
  await configurationChanged(ctx);
}

export async function listAppConnectors(ctx: VaultContext, applicationId: string): Promise<AppConnectorInfo[]> {
  await requireApplication(ctx, applicationId);
  const rows = await ctx.db.selectFrom('app_connectors').selectAll().where('application_id', '=', applicationId).execute();
  const byId = new Map(rows.map((r) => [r.service_id, r]));
  return ctx.catalogue.all().map((def) => {
    const row = byId.get(def.id);
    return {
      service_id: def.id,
      name: def.name,
      auth_type: def.auth_type,
      enabled: row?.enabled === 1,
      client_id_configured: Boolean(row?.client_sealed),
      scopes: row?.scopes ? row.scopes.split(' ') : null,
    };
  });
}
