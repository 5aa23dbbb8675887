// Fixtures for the pure unit tests (test/vault, test/oauth/tokens, test/oauth/refresh-rules): connector definitions
// from the built-in catalogue or written by hand, and connection records built from blankConnection.
import { join } from 'node:path';
import { builtinCatalogueDir, loadConnectorFile } from '../../src/connectors/loader.js';
import type { ConnectorDefinition, FormField, OAuthGrantType, OAuthSettings } from '../../src/connectors/types.js';
import type { ConnectionRecord } from '../../src/store/connection-record.js';
import { blankConnection, type Scope } from '../../src/vault/connection-mutation.js';

const loaded = new Map<string, ConnectorDefinition>();

/** A built-in connector, loaded from src/connectors/catalogue/<id>.yaml (a fresh copy per test file). */
export function builtin(id: string): ConnectorDefinition {
  let def = loaded.get(id);
  if (!def) loaded.set(id, (def = loadConnectorFile(join(builtinCatalogueDir(), `${id}.yaml`))));
  return def;
}

export function oauthSettings(grant_type: OAuthGrantType, extra: Partial<OAuthSettings> = {}): OAuthSettings {
  return {
    grant_type,
    ...(grant_type === 'authorization_code' ? { authorization_url: 'https://auth.example.com/authorize' } : {}),
    token_url: 'https://auth.example.com/token',
    scopes: [],
    scope_separator: ' ',
    pkce: false,
    authorize_params: {},
    token_params: {},
    client_auth: 'client_secret_post',
    ...extra,
  };
}

/** A hand-written connector definition: `auth_type` and whatever the test needs, neutral defaults for the rest. */
export function connector(fields: Partial<ConnectorDefinition> & Pick<ConnectorDefinition, 'auth_type'>): ConnectorDefinition {
  return {
    id: 'test-connector',
    name: 'Test Connector',
    tag_line: 'A connector written by a test',
    website: 'https://example.com',
    icon: 'https://example.com/icon.png',
    logo: 'https://example.com/logo.png',
    status: 'live',
    unified_apis: ['crm'],
    hosts: [],
    form_fields: [],
    settings_required_for_authorization: [],
    resources: {},
    migration_targets: [],
    has_guide: false,
    source: '(test)',
    ...fields,
  };
}

export function field(id: string, fields: Partial<FormField> = {}): FormField {
  return { id, label: id, type: 'text', ...fields };
}

export const SCOPE: Scope = { applicationId: 'app_unit', consumerId: 'consumer-unit' };

/** A connection of `def` as blankConnection starts it, with `changes` applied. */
export function record(def: ConnectorDefinition, changes: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return { ...blankConnection(SCOPE, def, def.unified_apis[0] ?? 'crm'), ...changes };
}

/** Runs `fn` and returns what it threw (fails the test when it throws nothing). */
export function thrown(fn: () => unknown): Error & { statusCode?: number; detail?: unknown } {
  try {
    fn();
  } catch (error) {
    return error as Error & { statusCode?: number; detail?: unknown };
  }
  throw new Error('expected the call to throw');
}
