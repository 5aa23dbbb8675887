// Applications (tenants), their API keys and the connectors they enable.
import crypto from 'node:crypto';
import * as applications from '../store/applications.js';
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

function newApiKey(ctx: VaultContext, apiKey: string): applications.NewApiKey {
  return { id: newId('key'), keyHash: ctx.keyring.hashApiKey(apiKey), last4: apiKey.slice(-4) };
}

/** After any change to an application's keys, connectors or limits: every process drops what it cached of them. */
async function configurationChanged(ctx: VaultContext, applicationId: string): Promise<void> {
  await ctx.changes.publish(ctx.db, { applicationId });
}

export async function applicationExists(ctx: VaultContext, applicationId: string): Promise<boolean> {
  return applications.applicationExists(ctx.db, applicationId);
}

async function requireApplication(ctx: VaultContext, applicationId: string): Promise<void> {
  if (!(await applicationExists(ctx, applicationId))) throw notFound('application', applicationId);
}

export async function countApplications(ctx: VaultContext): Promise<number> {
  return applications.countApplications(ctx.db);
}

export async function createApplication(
  ctx: VaultContext,
  options: { id?: string; name?: string; enableConnectors?: boolean } = {},
): Promise<CreatedApplication> {
  const id = options.id ?? newId('app');
  if (!APP_ID.test(id)) throw badRequest(`Application id "${id}" may only hold letters, digits, "_", "." and "-" (1-128 characters)`);
  if (await applicationExists(ctx, id)) throw new VaultError(409, 'ConflictError', `Application ${id} already exists`);
  const apiKey = generateApiKey();
  await applications.createApplication(
    ctx.db,
    {
      id,
      name: options.name ?? id,
      apiKey: newApiKey(ctx, apiKey),
      serviceIds: options.enableConnectors !== false ? ctx.catalogue.all().map((def) => def.id) : [],
      createdAt: Date.now(),
    },
    (trx) => ctx.keyring.createDataKey(id, trx),
  );
  await configurationChanged(ctx, id);
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
  await applications.setRedirectUris(ctx.db, applicationId, uris);
  return uris;
}

export async function setProxyAllowedHosts(ctx: VaultContext, applicationId: string, hosts: string[]): Promise<string[]> {
  await requireApplication(ctx, applicationId);
  const normalized = [...new Set(hosts.map(normalizeHostEntry))];
  await applications.setProxyAllowedHosts(ctx.db, applicationId, normalized);
  await configurationChanged(ctx, applicationId);
  return normalized;
}

/** The application's proxy allow-list (cached with the rest of the tenant configuration). */
export async function proxyAllowedHosts(ctx: VaultContext, applicationId: string): Promise<string[]> {
  const cached = ctx.cache.proxyHostsOf(applicationId);
  if (cached) return cached;
  const hosts = await applications.proxyAllowedHosts(ctx.db, applicationId);
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
  await applications.setRequestRateLimit(ctx.db, applicationId, perMinute);
  await configurationChanged(ctx, applicationId);
  return perMinute;
}

/** The application's requests-per-minute limit, null for none (cached with the rest of the tenant configuration). */
export async function requestRateLimit(ctx: VaultContext, applicationId: string): Promise<number | null> {
  const cached = ctx.cache.requestLimitOf(applicationId);
  if (cached !== undefined) return cached;
  const limit = await applications.requestRateLimit(ctx.db, applicationId);
  ctx.cache.rememberRequestLimit(applicationId, limit);
  return limit;
}

export async function createApiKey(ctx: VaultContext, applicationId: string): Promise<{ id: string; api_key: string }> {
  await requireApplication(ctx, applicationId);
  const apiKey = generateApiKey();
  const key = newApiKey(ctx, apiKey);
  await applications.insertApiKey(ctx.db, applicationId, key);
  await configurationChanged(ctx, applicationId);
  return { id: key.id, api_key: apiKey };
}

export async function listApiKeys(ctx: VaultContext, applicationId: string): Promise<ApiKeyInfo[]> {
  await requireApplication(ctx, applicationId);
  const rows = await applications.listApiKeys(ctx.db, applicationId);
  return rows.map((r) => ({
    id: r.id,
    last4: r.last4,
    created_at: new Date(r.created_at).toISOString(),
    revoked_at: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}

export async function revokeApiKey(ctx: VaultContext, applicationId: string, keyId: string): Promise<void> {
  if (!(await applications.revokeApiKey(ctx.db, applicationId, keyId))) throw notFound('active API key', keyId);
  await configurationChanged(ctx, applicationId);
}

/** Returns the application the key belongs to, or null for an unknown or revoked key. */
export async function authenticateApiKey(ctx: VaultContext, apiKey: string): Promise<string | null> {
  // Cached by the key as presented, so a key seen before costs no HMAC; only keys that authenticated are remembered.
  const cached = ctx.cache.applicationOfKey(apiKey);
  if (cached) return cached;
  const applicationId = await applications.applicationOfApiKey(ctx.db, ctx.keyring.hashApiKey(apiKey));
  if (applicationId) ctx.cache.rememberKey(apiKey, applicationId);
  return applicationId;
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
  const existing = await applications.findAppConnector(ctx.db, applicationId, serviceId);
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
  await applications.saveAppConnector(ctx.db, applicationId, serviceId, { enabled, clientSealed, scopes });
  await configurationChanged(ctx, applicationId);
}

export async function listAppConnectors(ctx: VaultContext, applicationId: string): Promise<AppConnectorInfo[]> {
  await requireApplication(ctx, applicationId);
  const rows = await applications.listAppConnectors(ctx.db, applicationId);
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
