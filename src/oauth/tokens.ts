// What a token response changes on a connection.
import type { TokenEndpointResponse } from 'oauth4webapi';
import type { ConnectorDefinition } from '../connectors/types.js';
import type { ConnectionRecord } from '../store/connection-record.js';

/** Retention of credentials whose refresh keeps failing (Apideck keeps them 48 h). */
export const FAILED_REFRESH_RETENTION_MS = 48 * 3600 * 1000;

export function applyTokenResponse(def: ConnectorDefinition, rec: ConnectionRecord, response: TokenEndpointResponse, now = Date.now()): void {
  const previousRefresh = rec.credentials?.refresh_token ?? null;
  rec.credentials = {
    access_token: response.access_token,
    // A provider that does not rotate refresh tokens sends none back: the old one stays valid.
    refresh_token: response.refresh_token ?? previousRefresh,
    token_type: response.token_type ?? 'bearer',
    scope: response.scope ?? rec.credentials?.scope ?? null,
  };
  rec.tokenExpiresAt = typeof response.expires_in === 'number' ? now + response.expires_in * 1000 : null;
  rec.authStatus = 'ok';
  rec.authError = null;
  rec.lastRefreshFailedAt = null;
  rec.credentialsExpireAt = null;
  // Providers that return account facts with the token (Salesforce's instance_url) fill the matching settings.
  for (const field of def.form_fields) {
    const value = (response as Record<string, unknown>)[field.id];
    if (!field.sensitive && typeof value === 'string' && value) rec.settings[field.id] = value;
  }
}

export function needsRefresh(rec: ConnectionRecord, marginMs: number, now = Date.now()): boolean {
  return rec.tokenExpiresAt !== null && rec.tokenExpiresAt - marginMs <= now;
}
