// Connection state and health, derived from the stored record (Apideck's connection-state guide).
import type { ConnectorDefinition } from '../connectors/types.js';

export type ConnectionState = 'available' | 'added' | 'authorized' | 'callable' | 'invalid';
export type ConnectionHealth =
  | 'ok' | 'pending_refresh' | 'needs_auth' | 'pending_confirmation' | 'needs_consent' | 'revoked' | 'missing_settings' | 'degraded';
export type IntegrationState = 'disabled' | 'needs_configuration' | 'configured';

export interface StateInputs {
  hasRecord: boolean;
  settings: Record<string, unknown>;
  hasAccessToken: boolean;
  authStatus: string;
  confirmed: boolean;
  lastRefreshFailedAt: number | null;
  lastDownstreamErrorAt: number | null;
}

export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

/** The settings as the connector reads them: a field's `default_value` stands in until the consumer saves one. */
export function withDefaults(def: ConnectorDefinition, settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of def.form_fields) if (!isBlank(f.default_value)) out[f.id] = f.default_value;
  for (const [key, value] of Object.entries(settings)) if (!isBlank(value)) out[key] = value;
  return out;
}

export function missingRequiredSettings(def: ConnectorDefinition, settings: Record<string, unknown>): string[] {
  const effective = withDefaults(def, settings);
  return def.form_fields.filter((f) => f.required && !f.deprecated && isBlank(effective[f.id])).map((f) => f.id);
}

/** OAuth connectors that exchange stored settings for a token rather than sending the user to the provider. */
export function usesTokenGrant(def: ConnectorDefinition): boolean {
  return def.auth_type === 'oauth2' && def.oauth?.grant_type !== 'authorization_code';
}

export function connectionState(def: ConnectorDefinition, s: StateInputs): { state: ConnectionState; health?: ConnectionHealth } {
  if (!s.hasRecord) return { state: 'available' };
  const degraded = s.lastDownstreamErrorAt !== null;
  if (def.auth_type === 'none') return { state: 'callable', health: degraded ? 'degraded' : 'ok' };
  const missing = missingRequiredSettings(def, s.settings).length > 0;
  if (def.auth_type === 'oauth2') {
    if (s.authStatus === 'revoked') return { state: 'added', health: 'revoked' };
    if (!s.hasAccessToken) return { state: 'added', health: missing ? 'missing_settings' : 'needs_auth' };
    if (!s.confirmed) return { state: 'added', health: 'pending_confirmation' };
    if (s.authStatus === 'invalid') return { state: 'invalid', health: 'needs_auth' };
    if (missing) return { state: 'authorized', health: 'missing_settings' };
    if (s.lastRefreshFailedAt !== null) return { state: 'callable', health: 'pending_refresh' };
    return { state: 'callable', health: degraded ? 'degraded' : 'ok' };
  }
  if (missing) return { state: 'added', health: 'missing_settings' };
  if (s.authStatus === 'invalid') return { state: 'invalid', health: 'needs_auth' };
  return { state: 'callable', health: degraded ? 'degraded' : 'ok' };
}

/**
 * `needs_configuration` when the authorization-code flow has no OAuth client: neither the application's
 * (`coffer connector enable --client-id`) nor one the consumer supplies through settings.
 */
export function integrationState(def: ConnectorDefinition, appConnector: { enabled: number; client_sealed: string | null }): IntegrationState {
  if (appConnector.enabled !== 1) return 'disabled';
  if (def.auth_type === 'oauth2' && def.oauth?.grant_type === 'authorization_code' && !appConnector.client_sealed) {
    const consumerBringsClient = def.form_fields.some((f) => f.id === 'client_id');
    if (!consumerBringsClient) return 'needs_configuration';
  }
  return 'configured';
}
