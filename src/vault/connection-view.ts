// What callers see of a connection: Apideck's Connection (epoch-ms times) and ConsumerConnection (ISO times).
import type { ConnectorDefinition, FormField } from '../connectors/types.js';
import type { Keyring } from '../crypto/keyring.js';
import { signAuthorizeState } from './authorize-state.js';
import type { ConnectionRecord } from '../store/connection-record.js';
import { connectionState, integrationState } from './connection-state.js';
import { iso } from './ids.js';

/** What a sensitive value looks like in every response; writing it back leaves the stored value unchanged. */
export const MASK = '********';

export interface AppConnectorRow {
  enabled: number;
  client_sealed: string | null;
}

export interface ConsentRecordView {
  id: string;
  created_at: string;
  granted: boolean;
  resources: unknown;
}

export interface CustomMappingView {
  id: string;
  label: string;
  description: string | null;
  value: string;
  key: string;
  required: boolean;
  custom_field: boolean;
  consumer_id: string | null;
  example: string | null;
}

/** Which browser links a caller may be handed: a session's `allow_actions` can withhold them (API keys get both). */
export interface LinkPolicy {
  /** `revoke_url` (the Disconnect action). */
  revoke: boolean;
  /** `authorize_url` once the connection is authorized (the Re-authorize action). */
  reauthorize: boolean;
}

export interface ViewExtras {
  consents?: ConsentRecordView[];
  customMappings?: CustomMappingView[];
  /** A session caller's redirect_uri, carried in the authorize state. */
  sessionRedirectUri?: string;
  links?: LinkPolicy;
  /** A session caller's `settings.oauth_browser_binding`, carried in the authorize state. */
  sessionBrowserBinding?: boolean;
}

/** Declared settings only (a key stored before settings were checked is never shown), secrets masked. */
export function maskedSettings(def: ConnectorDefinition, settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of def.form_fields) {
    if (!(field.id in settings)) continue;
    const value = settings[field.id];
    out[field.id] = field.sensitive && value !== null && value !== '' ? MASK : value;
  }
  return out;
}

function formFieldsWithValues(def: ConnectorDefinition, settings: Record<string, unknown>): Array<FormField & { value?: unknown }> {
  return def.form_fields.map((f) => {
    const value = settings[f.id] ?? f.default_value;
    const field: FormField & { value?: unknown } = {
      ...f,
      required: f.required ?? false,
      custom_field: f.custom_field ?? false,
      sensitive: f.sensitive ?? false,
      placeholder: f.placeholder ?? '',
      description: f.description ?? null,
      disabled: f.disabled ?? false,
      options: f.options ?? [],
    };
    if (value !== undefined && value !== null) field.value = f.sensitive && value !== '' ? MASK : value;
    return field;
  });
}

export function configurationView(def: ConnectorDefinition, rec: ConnectionRecord | null, onlyResource?: string) {
  const out: Array<{ resource: string; defaults: Array<{ target: string; id: string; options: unknown[]; value?: unknown }> }> = [];
  for (const [resource, spec] of Object.entries(def.resources)) {
    if (onlyResource && resource !== onlyResource) continue;
    if (!spec.settings?.length) continue;
    const stored = rec?.configuration.find((c) => c.resource === resource);
    out.push({
      resource,
      defaults: spec.settings.map((f) => {
        const value = stored?.defaults.find((d) => d.id === f.id)?.value ?? f.default_value;
        return { target: 'resource', id: f.id, options: f.options ?? [], ...(value === undefined || value === null ? {} : { value }) };
      }),
    });
  }
  return out;
}

function stateOf(def: ConnectorDefinition, rec: ConnectionRecord | null) {
  return connectionState(def, {
    hasRecord: rec !== null,
    settings: rec?.settings ?? {},
    hasAccessToken: Boolean(rec?.credentials?.access_token),
    authStatus: rec?.authStatus ?? 'ok',
    confirmed: rec?.confirmed ?? true,
    lastRefreshFailedAt: rec?.lastRefreshFailedAt ?? null,
    lastDownstreamErrorAt: rec?.lastDownstreamErrorAt ?? null,
  });
}

export function stateOfRecord(def: ConnectorDefinition, rec: ConnectionRecord | null) {
  return stateOf(def, rec).state;
}

/** The browser links of a view: an authorization-code connector's, for a consumer; null for any other. */
export interface ViewLinks {
  authorizeUrl: string | null;
  revokeUrl: string | null;
}

export async function viewLinks(
  keyring: Keyring,
  publicUrl: string,
  def: ConnectorDefinition,
  unifiedApi: string,
  applicationId: string,
  consumerId: string | null,
  rec: ConnectionRecord | null,
  extras: ViewExtras = {},
): Promise<ViewLinks | null> {
  const isAuthCode = def.auth_type === 'oauth2' && def.oauth?.grant_type === 'authorization_code';
  if (!isAuthCode || !consumerId) return null;
  const links = extras.links ?? { revoke: true, reauthorize: true };
  const hasTokens = Boolean(rec?.credentials);
  // Each URL gets its own single-use state, so following one does not spend the other.
  const state = async (use: 'authorize' | 'revoke') =>
    `?state=${encodeURIComponent(
      await signAuthorizeState(keyring, {
        use,
        applicationId,
        consumerId,
        serviceId: def.id,
        unifiedApi,
        redirectUri: extras.sessionRedirectUri,
        browserBinding: extras.sessionBrowserBinding,
        firstOnly: !links.reauthorize,
      }),
    )}`;
  return {
    authorizeUrl: !hasTokens || links.reauthorize ? `${publicUrl}/vault/authorize/${def.id}/${encodeURIComponent(applicationId)}${await state('authorize')}` : null,
    revokeUrl: hasTokens && links.revoke ? `${publicUrl}/vault/revoke/${def.id}/${encodeURIComponent(applicationId)}${await state('revoke')}` : null,
  };
}

/** Apideck `Connection` without its links (`authorize_url` and `revoke_url` null): the same for every caller. */
export function linklessConnectionView(
  def: ConnectorDefinition,
  unifiedApi: string,
  appConnector: AppConnectorRow,
  rec: ConnectionRecord | null,
  extras: Pick<ViewExtras, 'consents' | 'customMappings'> = {},
  onlyResource?: string,
): Record<string, unknown> {
  const { state, health } = stateOf(def, rec);
  const settings = rec?.settings ?? {};
  const consents = extras.consents ?? [];
  const resources = Object.entries(def.resources);
  const view: Record<string, unknown> = {
    id: `${unifiedApi}+${def.id}`,
    service_id: def.id,
    name: def.name,
    tag_line: def.tag_line,
    unified_api: unifiedApi,
    state,
    integration_state: integrationState(def, appConnector),
    auth_type: def.auth_type,
    ...(def.oauth ? { oauth_grant_type: def.oauth.grant_type } : {}),
    status: def.status,
    enabled: rec?.enabled ?? false,
    website: def.website,
    icon: def.icon,
    logo: def.logo,
    authorize_url: null,
    revoke_url: null,
    settings: rec ? maskedSettings(def, settings) : null,
    metadata: rec?.metadata ?? null,
    form_fields: formFieldsWithValues(def, settings),
    configuration: configurationView(def, rec, onlyResource),
    configurable_resources: resources.filter(([, r]) => r.settings?.length).map(([name]) => name),
    resource_schema_support: resources.filter(([, r]) => r.schema).map(([name]) => name),
    resource_settings_support: resources.filter(([, r]) => r.settings?.length).map(([name]) => name),
    validation_support: Boolean(def.verification),
    schema_support: resources.some(([, r]) => r.schema),
    settings_required_for_authorization: def.settings_required_for_authorization,
    subscriptions: [],
    has_guide: def.has_guide,
    custom_mappings: extras.customMappings ?? [],
    consent_state: rec?.consentState ?? 'implicit',
    consents,
    ...(consents.length ? { latest_consent: consents[consents.length - 1] } : {}),
    ...(rec?.dataScopes ? { application_data_scopes: rec.dataScopes } : {}),
  };
  if (rec) {
    view.health = health;
    view.credentials_expire_at = rec.credentialsExpireAt ?? 0;
    view.last_refresh_failed_at = rec.lastRefreshFailedAt ?? 0;
    view.last_downstream_error_at = rec.lastDownstreamErrorAt ?? 0;
    view.created_at = rec.createdAt;
    view.updated_at = rec.updatedAt;
  }
  return view;
}

/** Where a link-free view's JSON text holds its links: the first occurrence (every key before it is the connector's). */
const NO_LINKS = '"authorize_url":null,"revoke_url":null';

/** A link-free view's JSON text (`JSON.stringify(linklessConnectionView(…))`) with `links` put in. */
export function withLinks(linklessJson: string, links: ViewLinks | null): string {
  if (!links) return linklessJson;
  const at = linklessJson.indexOf(NO_LINKS);
  return `${linklessJson.slice(0, at)}"authorize_url":${JSON.stringify(links.authorizeUrl)},"revoke_url":${JSON.stringify(links.revokeUrl)}${linklessJson.slice(at + NO_LINKS.length)}`;
}

/** Apideck `Connection`. */
export async function connectionView(
  keyring: Keyring,
  publicUrl: string,
  def: ConnectorDefinition,
  unifiedApi: string,
  applicationId: string,
  consumerId: string | null,
  appConnector: AppConnectorRow,
  rec: ConnectionRecord | null,
  extras: ViewExtras = {},
  onlyResource?: string,
): Promise<Record<string, unknown>> {
  const view = linklessConnectionView(def, unifiedApi, appConnector, rec, extras, onlyResource);
  const links = await viewLinks(keyring, publicUrl, def, unifiedApi, applicationId, consumerId, rec, extras);
  if (links) {
    view.authorize_url = links.authorizeUrl;
    view.revoke_url = links.revokeUrl;
  }
  return view;
}

/** Apideck `ConsumerConnection`, used in `Consumer.connections[]` and webhook entities. Never holds a secret. */
export function consumerConnectionView(def: ConnectorDefinition, rec: ConnectionRecord, unifiedApi = rec.unifiedApi): Record<string, unknown> & {
  id: string;
  consumer_id: string;
  service_id: string;
} {
  const { state, health } = stateOf(def, rec);
  return {
    id: `${unifiedApi}+${def.id}`,
    name: def.name,
    icon: def.icon,
    logo: def.logo,
    website: def.website,
    tag_line: def.tag_line,
    service_id: def.id,
    unified_api: unifiedApi,
    consumer_id: rec.consumerId,
    auth_type: def.auth_type,
    enabled: rec.enabled,
    settings: maskedSettings(def, rec.settings),
    metadata: rec.metadata,
    created_at: iso(rec.createdAt) as string,
    updated_at: iso(rec.updatedAt),
    state,
    health: health ?? 'ok',
    credentials_expire_at: health === 'pending_refresh' ? iso(rec.credentialsExpireAt) : null,
    last_refresh_failed_at: iso(rec.lastRefreshFailedAt),
  };
}
