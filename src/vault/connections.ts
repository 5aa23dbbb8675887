// The Vault connection operations, one function per API operation; routes only call these.
import type { ConnectorDefinition } from '../connectors/types.js';
import type { ConnectionRecord, StoredConfiguration } from '../store/connection-record.js';
import type { Executor } from '../store/database.js';
import { blankConnection, connectionEvent, connectionKey, loadConnection, mutateConnection, sealedSettings, type Scope } from './connection-mutation.js';
import { missingRequiredSettings } from './connection-state.js';
import { connectionView, linklessConnectionView, stateOfRecord, viewLinks, withLinks, type LinkPolicy, type ViewExtras } from './connection-view.js';
import { addConsent, consentStateAfter, consentView, listConsents } from './consents.js';
import type { CredentialCheck, VaultContext } from './context.js';
import { listCustomMappings, mappingView, putCustomMapping } from './custom-mappings.js';
import { badRequest, conflict, credentialsRejected, notFound, unprocessable, VaultError } from './errors.js';
import { enabledIntegrations, resolveIntegration, checkUnifiedApi, type Integration } from './integrations.js';
import { checkCredentialsStayWithHost, checkFieldValue, mergeSettings } from './settings.js';

export interface ConnectionPatch {
  enabled?: boolean;
  settings?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  configuration?: Array<{ resource?: string; defaults?: Array<{ id?: string; value?: unknown }> }>;
  custom_mappings?: Array<{ id?: string; value?: unknown }>;
  consent_state?: string;
  latest_consent?: { granted?: boolean; resources?: unknown };
  application_data_scopes?: { enabled?: boolean; resources?: unknown };
}


async function extrasFor(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, withRecord: boolean): Promise<ViewExtras> {
  if (!withRecord) return callerExtras(scope);
  const [consents, customMappings] = await Promise.all([
    listConsents(ctx.db, scope, serviceId),
    listCustomMappings(ctx.db, scope, unifiedApi, serviceId),
  ]);
  return { consents, customMappings, ...callerExtras(scope) };
}

/** A session caller's say in the views it reads: the links it may be handed and its flows' authorize state. */
const callerExtras = (caller: Pick<Scope, 'redirectUri' | 'browserBinding' | 'links'>): ViewExtras => ({
  sessionRedirectUri: caller.redirectUri,
  sessionBrowserBinding: caller.browserBinding,
  links: caller.links,
});

async function view(
  ctx: VaultContext,
  scope: Scope,
  integration: Integration,
  unifiedApi: string,
  rec: ConnectionRecord | null,
  onlyResource?: string,
  preloaded?: ViewExtras,
) {
  const extras = rec === null ? callerExtras(scope) : (preloaded ?? (await extrasFor(ctx, scope, unifiedApi, integration.def.id, true)));
  return connectionView(ctx.keyring, ctx.publicUrl, integration.def, unifiedApi, scope.applicationId, scope.consumerId, integration.appConnector, rec, extras, onlyResource);
}

/** What a link-free view was rendered from: while every part is the same object, its text is the same. */
interface RenderedView {
  unifiedApi: string;
  def: ConnectorDefinition;
  appConnector: Integration['appConnector'];
  consents: readonly unknown[];
  mappings: readonly unknown[];
  json: string;
}

/**
 * Link-free views (connection-view.ts) as JSON text, by the read model's record they show (dropped with it when the
 * read model lets it go), or by connector where there is no record: a consumer's list renders every connector, and all
 * but its own few are the same text for every consumer of the application.
 */
const renderedViews = new WeakMap<object, RenderedView[]>();
const NONE: readonly never[] = [];

function linklessJson(
  integration: Integration,
  unifiedApi: string,
  rec: ConnectionRecord | null,
  consents: readonly Parameters<typeof consentView>[0][] = NONE,
  mappings: readonly Parameters<typeof mappingView>[0][] = NONE,
): string {
  const { def, appConnector } = integration;
  const key = rec ?? def;
  const known = renderedViews.get(key) ?? [];
  const hit = known.find((r) => r.unifiedApi === unifiedApi && r.def === def && r.appConnector === appConnector && r.consents === consents && r.mappings === mappings);
  if (hit) return hit.json;
  const json = JSON.stringify(linklessConnectionView(def, unifiedApi, appConnector, rec, { consents: consents.map(consentView), customMappings: mappings.map(mappingView) }));
  // A handful of unified APIs (or applications, for a connector without a record) at most: the list stays short.
  renderedViews.set(key, [...known.slice(-7), { unifiedApi, def, appConnector, consents, mappings, json }]);
  return json;
}

/** The views of every enabled connector for a consumer (or none), as JSON texts. */
export async function listConnections(
  ctx: VaultContext,
  applicationId: string,
  consumerId: string | null,
  filter: { api?: string; configured?: boolean; /** A session's `unified_apis`: nothing outside them is listed. */ unifiedApis?: string[] },
  caller: Pick<Scope, 'redirectUri' | 'browserBinding' | 'links'> = {},
): Promise<string[]> {
  if (filter.api) checkUnifiedApi(filter.api);
  const integrations = await enabledIntegrations(ctx, applicationId);
  const records = new Map<string, ConnectionRecord>();
  if (consumerId) for (const rec of await ctx.connections.listForConsumer(applicationId, consumerId)) records.set(rec.serviceId, rec);
  const extras = callerExtras(caller);
  const out: string[] = [];
  for (const integration of integrations) {
    const rec = records.get(integration.def.id) ?? null;
    if (filter.configured !== undefined && filter.configured !== (rec !== null)) continue;
    for (const api of integration.def.unified_apis) {
      if (filter.api && api !== filter.api) continue;
      if (filter.unifiedApis && !filter.unifiedApis.includes(api)) continue;
      const links = await viewLinks(ctx.keyring, ctx.publicUrl, integration.def, api, applicationId, consumerId, rec, extras);
      out.push(withLinks(linklessJson(integration, api, rec), links));
    }
  }
  return out;
}

/** `GET` of a connection as JSON text: its link-free part rendered once per version of the read model's record. */
export async function renderConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string): Promise<string> {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const { record, consents, mappings } = await ctx.connections.snapshot(connectionKey(scope, serviceId), unifiedApi);
  const json = record === null ? linklessJson(integration, unifiedApi, null) : linklessJson(integration, unifiedApi, record, consents, mappings);
  const links = await viewLinks(ctx.keyring, ctx.publicUrl, integration.def, unifiedApi, scope.applicationId, scope.consumerId, record, callerExtras(scope));
  return withLinks(json, links);
}

export async function getConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  // From the read model: a warm read touches no table.
  const { record, consents, mappings } = await ctx.connections.snapshot(connectionKey(scope, serviceId), unifiedApi);
  const extras = { consents: consents.map(consentView), customMappings: mappings.map(mappingView), ...callerExtras(scope) };
  return view(ctx, scope, integration, unifiedApi, record, undefined, extras);
}

function checkConfiguration(def: ConnectorDefinition, configuration: NonNullable<ConnectionPatch['configuration']>): StoredConfiguration[] {
  return configuration.map((entry, i) => {
    const resource = entry.resource;
    if (!resource) throw badRequest(`configuration[${i}].resource is required`);
    const settings = def.resources[resource]?.settings;
    if (!settings?.length) throw badRequest(`Resource "${resource}" of ${def.id} has no settings to configure`);
    return {
      resource,
      defaults: (entry.defaults ?? []).map((d, j) => {
        const field = settings.find((f) => f.id === d.id);
        if (!field) throw badRequest(`configuration[${i}].defaults[${j}].id "${d.id}" is not a setting of ${resource}`);
        checkFieldValue(field, d.value ?? null, `configuration[${i}].defaults[${j}].value`);
        return { id: field.id, value: d.value ?? null };
      }),
    };
  });
}

function mergeConfiguration(current: StoredConfiguration[], patch: StoredConfiguration[]): StoredConfiguration[] {
  const next = structuredClone(current);
  for (const entry of patch) {
    let target = next.find((c) => c.resource === entry.resource);
    if (!target) next.push((target = { resource: entry.resource, defaults: [] }));
    for (const d of entry.defaults) {
      const existing = target.defaults.find((x) => x.id === d.id);
      if (existing) existing.value = d.value;
      else target.defaults.push({ ...d });
    }
  }
  return next;
}

async function applyPatch(ctx: VaultContext, scope: Scope, def: ConnectorDefinition, unifiedApi: string, rec: ConnectionRecord, patch: ConnectionPatch, trx: Executor) {
  if (patch.enabled !== undefined) rec.enabled = patch.enabled;
  if (patch.settings) {
    const merged = mergeSettings(def, rec.settings, patch.settings);
    checkCredentialsStayWithHost(def, rec.settings, merged, patch.settings, rec.credentials !== null);
    rec.settings = merged;
  } else if (patch.settings === null) rec.settings = {};
  if (patch.metadata !== undefined) {
    const { company_id: _readOnly, ...metadata } = patch.metadata ?? {};
    rec.metadata = patch.metadata === null ? null : metadata;
  }
  if (patch.configuration) rec.configuration = mergeConfiguration(rec.configuration, checkConfiguration(def, patch.configuration));
  if (patch.consent_state !== undefined) rec.consentState = patch.consent_state;
  if (patch.latest_consent && patch.latest_consent.granted !== undefined) {
    await addConsent(trx, scope, def.id, patch.latest_consent.granted, patch.latest_consent.resources ?? '*');
    rec.consentState = consentStateAfter(rec.consentState, patch.latest_consent.granted);
  }
  if (patch.application_data_scopes) {
    rec.dataScopes = { ...(rec.dataScopes ?? {}), ...patch.application_data_scopes, updated_at: new Date().toISOString() };
  }
  // The SDKs send custom_mappings back as `{value}` only (id is read-only): an entry repeating a stored value changes nothing.
  const stored = patch.custom_mappings?.some((m) => !m.id) ? await listCustomMappings(trx, scope, unifiedApi, def.id) : [];
  for (const [i, mapping] of (patch.custom_mappings ?? []).entries()) {
    if (!mapping.id && stored.some((m) => m.value === mapping.value)) continue;
    if (!mapping.id) throw badRequest(`custom_mappings[${i}].id is required`);
    await putCustomMapping(trx, scope, unifiedApi, def.id, mapping.id, mapping.value, 'upsert');
  }
}

const VERIFIED_AUTH_TYPES = new Set(['apiKey', 'basic', 'custom']);

/**
 * When a write completes the credentials of an API-key/basic/custom connection, asks the provider (outside any
 * transaction) whether it accepts them. A provider that cannot be reached leaves the state as it was.
 */
async function checkNewCredentials(ctx: VaultContext, scope: Scope, def: ConnectorDefinition, patch: ConnectionPatch): Promise<CredentialCheck | null> {
  if (!ctx.verifier || !def.verification || !VERIFIED_AUTH_TYPES.has(def.auth_type) || patch.settings === undefined) return null;
  const current = await loadConnection(ctx, scope, def.id);
  const candidate = patch.settings === null ? {} : mergeSettings(def, current?.settings ?? {}, patch.settings);
  if (missingRequiredSettings(def, candidate).length) return null;
  try {
    return await ctx.verifier(def, candidate, null);
  } catch (error) {
    if (error instanceof VaultError && error.statusCode === 502) return null;
    throw error;
  }
}

function applyCheck(rec: ConnectionRecord, check: CredentialCheck | null): void {
  if (!check) return;
  rec.authStatus = check.accepted ? 'ok' : 'invalid';
  rec.authError = check.accepted ? null : check.message;
}

/** POST (create) and PATCH (update) both create the connection when it does not exist yet, as Apideck does. */
export async function saveConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, patch: ConnectionPatch) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const { def } = integration;
  const check = await checkNewCredentials(ctx, scope, def, patch);
  const { record } = await mutateConnection(ctx, scope, def, unifiedApi, { create: true }, async (rec, trx) => {
    await applyPatch(ctx, scope, def, unifiedApi, rec, patch, trx);
    applyCheck(rec, check);
  });
  // The refusal is recorded (state `invalid`) and reported with the provider's own message.
  if (check && !check.accepted) throw credentialsRejected(def.name, check.status, check.message);
  return view(ctx, scope, integration, unifiedApi, record);
}

/** Deletes credentials, settings, consents and mappings; emits `vault.connection.deleted`. */
export async function deleteConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string): Promise<void> {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const removed = await ctx.connections.remove(connectionKey(scope, serviceId), (rec) => [deletedEvent(def, rec, unifiedApi)]);
  if (!removed) throw notFound('connection', `${unifiedApi}+${serviceId}`);
}

/** `vault.connection.deleted`: the entity as it is now, gone (state `available`), with nothing of its secrets. */
export const deletedEvent = (def: ConnectorDefinition, rec: ConnectionRecord, unifiedApi = rec.unifiedApi) =>
  connectionEvent(def, { ...rec, enabled: false, settings: {}, credentials: null }, 'vault.connection.deleted', unifiedApi, { state: 'available' });

export interface ImportData {
  credentials?: { access_token?: string; refresh_token?: string | null; issued_at?: string | null; expires_in?: number | null };
  settings?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
}

/** Absent `issued_at`/`expires_in` → the token counts as expired, so it is refreshed on first use. */
export function importedExpiry(issuedAt: string | null | undefined, expiresIn: number | null | undefined, now = Date.now()): number {
  if (expiresIn === null || expiresIn === undefined) return 0;
  const issued = issuedAt ? Date.parse(issuedAt) : now;
  if (Number.isNaN(issued)) throw badRequest('credentials.issued_at must be an ISO 8601 date-time');
  return issued + expiresIn * 1000;
}

export async function importConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, data: ImportData) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const { def } = integration;
  if (def.auth_type !== 'oauth2') throw badRequest(`${def.name} uses ${def.auth_type} authentication; import is for OAuth 2.0 connections`);
  const creds = data.credentials;
  if (!creds?.access_token) throw badRequest('credentials.access_token is required', { missing: [{ 'credentials.access_token': 'required' }] });
  const expiresAt = importedExpiry(creds.issued_at, creds.expires_in);
  const { record } = await mutateConnection(ctx, scope, def, unifiedApi, { create: true }, async (rec, trx) => {
    await applyPatch(ctx, scope, def, unifiedApi, rec, { settings: data.settings, metadata: data.metadata }, trx);
    rec.credentials = { access_token: creds.access_token!, refresh_token: creds.refresh_token ?? null, token_type: 'Bearer' };
    rec.tokenExpiresAt = expiresAt;
    rec.authStatus = 'ok';
    rec.authError = null;
    rec.confirmed = true;
  });
  return view(ctx, scope, integration, unifiedApi, record);
}

/** Moves the connection to one of the connector's `migration_targets`; idempotent on retry. */
export async function migrateConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, targetServiceId: string) {
  const source = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  if (!source.def.migration_targets.includes(targetServiceId)) {
    throw badRequest(`${serviceId} cannot be migrated to "${targetServiceId}"`, {
      invalid: [{ target_service_id: `must be one of: ${source.def.migration_targets.join(', ') || '(none)'}` }],
    });
  }
  const target = await resolveIntegration(ctx, scope.applicationId, unifiedApi, targetServiceId);
  const migrated = await ctx.connections.move(
    connectionKey(scope, serviceId),
    connectionKey(scope, targetServiceId),
    (from) => {
      const fresh = blankConnection(scope, target.def, unifiedApi);
      return { ...from, id: fresh.id, serviceId: targetServiceId, unifiedApi, createdAt: fresh.createdAt };
    },
    {
      sealedSettings: sealedSettings(target.def),
      events: (from, moved) => [
        connectionEvent(target.def, moved, 'vault.connection.created', unifiedApi),
        deletedEvent(source.def, from, unifiedApi),
        connectionEvent(target.def, moved, 'vault.connection.migrated', unifiedApi, { migrated_from: serviceId }),
      ],
      targetExists: () => conflict('A connection already exists for the target connector'),
    },
  );
  if (!migrated) throw notFound('connection', `${unifiedApi}+${serviceId}`);
  return view(ctx, scope, target, unifiedApi, migrated);
}

/** Non-OAuth connections: required settings present, then the connector's verification request when it has one. */
export async function validateConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const rec = await loadConnection(ctx, scope, serviceId);
  if (!rec) throw notFound('connection', `${unifiedApi}+${serviceId}`);
  const missing = missingRequiredSettings(def, rec.settings);
  if (def.auth_type !== 'oauth2' && def.auth_type !== 'none' && missing.length) {
    throw unprocessable(`Connection is missing required settings: ${missing.join(', ')}`);
  }
  const check = ctx.verifier && VERIFIED_AUTH_TYPES.has(def.auth_type) ? await ctx.verifier(def, rec.settings, null) : null;
  if (!check) return { id: `${unifiedApi}+${serviceId}`, state: stateOfRecord(def, rec) };
  const { record } = await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, (draft) => applyCheck(draft, check));
  if (!check.accepted) throw credentialsRejected(def.name, check.status, check.message);
  return { id: `${unifiedApi}+${serviceId}`, state: stateOfRecord(def, record) };
}

export async function listConnectionConsents(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string) {
  await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  if (!(await loadConnection(ctx, scope, serviceId))) throw notFound('connection', `${unifiedApi}+${serviceId}`);
  return listConsents(ctx.db, scope, serviceId);
}

export async function updateConnectionConsent(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, granted: boolean, resources: unknown) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  let consent: Awaited<ReturnType<typeof addConsent>> | undefined;
  await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, async (rec, trx) => {
    consent = await addConsent(trx, scope, serviceId, granted, resources);
    rec.consentState = consentStateAfter(rec.consentState, granted);
  });
  return consent!;
}

function requireResource(def: ConnectorDefinition, resource: string) {
  const spec = def.resources[resource];
  if (!spec) throw notFound('resource', `${def.id}/${resource}`);
  return spec;
}

export async function getResourceConfig(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const spec = requireResource(integration.def, resource);
  if (!spec.settings?.length) throw notFound('resource settings', `${serviceId}/${resource}`);
  return view(ctx, scope, integration, unifiedApi, await loadConnection(ctx, scope, serviceId), resource);
}

export async function updateResourceConfig(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string, patch: ConnectionPatch) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const spec = requireResource(integration.def, resource);
  if (!spec.settings?.length) throw notFound('resource settings', `${serviceId}/${resource}`);
  const configuration = (patch.configuration ?? []).map((c) => ({ ...c, resource: c.resource ?? resource }));
  if (configuration.some((c) => c.resource !== resource)) throw badRequest(`configuration entries must be for resource "${resource}"`);
  const { record } = await mutateConnection(ctx, scope, integration.def, unifiedApi, { create: true }, (rec, trx) =>
    applyPatch(ctx, scope, integration.def, unifiedApi, rec, { ...patch, configuration }, trx),
  );
  return view(ctx, scope, integration, unifiedApi, record, resource);
}

export async function getResourceSchema(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const spec = requireResource(def, resource);
  if (!spec.schema) throw notFound('resource schema', `${serviceId}/${resource}`);
  return spec.schema;
}

export async function getResourceExample(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const spec = requireResource(def, resource);
  if (!spec.example) throw notFound('resource example', `${serviceId}/${resource}`);
  return {
    unified_api: unifiedApi,
    service_id: serviceId,
    resource: { id: resource, name: spec.name ?? resource, status: 'live', downstream_id: resource, downstream_name: spec.name ?? resource },
    example_response: spec.example,
  };
}

/** Custom fields the connector declares for the resource; live discovery from the provider is not done here. */
export async function listCustomFields(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const spec = requireResource(def, resource);
  return (spec.custom_fields ?? []).map((f) => ({ id: f.id, name: f.name, description: f.description, value: null, finder: f.finder }));
}

export async function listResourceCustomMappings(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  return listCustomMappings(ctx.db, scope, unifiedApi, serviceId, resource);
}

export async function listServiceCustomMappings(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string) {
  await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  return listCustomMappings(ctx.db, scope, unifiedApi, serviceId);
}
