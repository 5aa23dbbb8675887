// Connection state and health derived from a record: the pure rules of src/vault/connection-state.ts and
// stateOfRecord (src/vault/connection-view.ts), for apiKey, basic, OAuth authorization-code and client-credentials
// connectors.
import { describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../../src/connectors/types.js';
import {
  connectionState,
  integrationState,
  isBlank,
  missingRequiredSettings,
  usesTokenGrant,
  withDefaults,
  type StateInputs,
} from '../../src/vault/connection-state.js';
import { stateOfRecord } from '../../src/vault/connection-view.js';
import { builtin, connector, field, oauthSettings, record } from '../support/unit.js';

const pipedrive = builtin('pipedrive'); // apiKey: api_key
const zendesk = builtin('zendesk'); // apiKey: subdomain, email, api_key
const woocommerce = builtin('woocommerce'); // basic: store_url, consumer_key, consumer_secret
const hubspot = builtin('hubspot'); // oauth2 authorization_code, no settings
const salesforce = builtin('salesforce'); // oauth2 authorization_code, optional instance_url
const gitlab = builtin('gitlab'); // oauth2 authorization_code, required instance_url with a default
const personio = builtin('personio'); // oauth2 client_credentials: client_id, client_secret
const copper = builtin('copper'); // custom: api_key, user_email
const jsonplaceholder = builtin('jsonplaceholder'); // none

/** An authorization-code connector with a required setting that has no default. */
const authCodeWithRequired = connector({
  auth_type: 'oauth2',
  oauth: oauthSettings('authorization_code'),
  form_fields: [field('account_id', { required: true })],
});

const TOKENS = { access_token: 'at-1', refresh_token: 'rt-1', token_type: 'bearer', scope: null };

const ZENDESK_SETTINGS = { subdomain: 'acme', email: 'agent@acme.test', api_key: 'zd-secret' };
const WOO_SETTINGS = { store_url: 'https://shop.example.com', consumer_key: 'ck_1', consumer_secret: 'cs_1' };
const PERSONIO_SETTINGS = { client_id: 'pid', client_secret: 'psecret' };

/** Inputs of a stored, healthy connection; each test changes what it is about. */
function inputs(changes: Partial<StateInputs> = {}): StateInputs {
  return {
    hasRecord: true,
    settings: {},
    hasAccessToken: false,
    authStatus: 'ok',
    confirmed: true,
    lastRefreshFailedAt: null,
    lastDownstreamErrorAt: null,
    ...changes,
  };
}

describe('isBlank', () => {
  it('treats undefined, null, the empty string and the empty array as blank', () => {
    for (const value of [undefined, null, '', []]) expect(isBlank(value), JSON.stringify(value)).toBe(true);
  });

  it('treats every other value as set, falsy ones and whitespace included', () => {
    for (const value of [0, false, ' ', 'x', ['a'], {}, NaN]) expect(isBlank(value), String(value)).toBe(false);
  });
});

describe('withDefaults', () => {
  const def = connector({
    auth_type: 'apiKey',
    form_fields: [
      field('region', { default_value: 'eu' }),
      field('retries', { type: 'number', default_value: 0 }),
      field('verbose', { type: 'checkbox', default_value: false }),
      field('blank_default', { default_value: '' }),
      field('null_default', { default_value: null }),
      field('api_key', { sensitive: true }),
    ],
  });

  it('fills each field default the settings leave out, falsy defaults included, blank defaults not', () => {
    expect(withDefaults(def, {})).toEqual({ region: 'eu', retries: 0, verbose: false });
  });

  it('lets a saved value replace the default', () => {
    expect(withDefaults(def, { region: 'us', api_key: 'k' })).toEqual({ region: 'us', retries: 0, verbose: false, api_key: 'k' });
  });

  it('keeps the default when the saved value is blank, and drops blank values that have no default', () => {
    expect(withDefaults(def, { region: '', api_key: null, verbose: undefined })).toEqual({ region: 'eu', retries: 0, verbose: false });
  });

  it('does not change the settings it is given', () => {
    const settings = { region: '' };
    withDefaults(def, settings);
    expect(settings).toEqual({ region: '' });
  });

  it('uses the catalogue default of gitlab instance_url', () => {
    expect(withDefaults(gitlab, {})).toEqual({ instance_url: 'https://gitlab.com' });
    expect(withDefaults(gitlab, { instance_url: 'https://gitlab.example.com' })).toEqual({ instance_url: 'https://gitlab.example.com' });
  });
});

describe('missingRequiredSettings', () => {
  it('lists every required setting that is blank, in form order', () => {
    expect(missingRequiredSettings(zendesk, {})).toEqual(['subdomain', 'email', 'api_key']);
    expect(missingRequiredSettings(zendesk, { subdomain: 'acme', email: '', api_key: [] })).toEqual(['email', 'api_key']);
    expect(missingRequiredSettings(zendesk, ZENDESK_SETTINGS)).toEqual([]);
  });

  it('counts a default value as set', () => {
    expect(missingRequiredSettings(gitlab, {})).toEqual([]);
    expect(missingRequiredSettings(gitlab, { instance_url: '' })).toEqual([]);
  });

  it('ignores optional and deprecated fields', () => {
    expect(missingRequiredSettings(salesforce, {})).toEqual([]);
    const def = connector({
      auth_type: 'apiKey',
      form_fields: [field('old_key', { required: true, deprecated: true }), field('note'), field('api_key', { required: true })],
    });
    expect(missingRequiredSettings(def, {})).toEqual(['api_key']);
  });

  it('finds nothing missing for a connector without settings', () => {
    expect(missingRequiredSettings(hubspot, {})).toEqual([]);
    expect(missingRequiredSettings(jsonplaceholder, {})).toEqual([]);
  });
});

describe('usesTokenGrant', () => {
  it('is true for OAuth connectors that get their token without a browser', () => {
    expect(usesTokenGrant(personio)).toBe(true);
    expect(usesTokenGrant(builtin('help-scout'))).toBe(true);
    expect(usesTokenGrant(connector({ auth_type: 'oauth2', oauth: oauthSettings('password') }))).toBe(true);
  });

  it('is false for the authorization-code flow and for connectors that are not OAuth', () => {
    expect(usesTokenGrant(hubspot)).toBe(false);
    expect(usesTokenGrant(salesforce)).toBe(false);
    expect(usesTokenGrant(pipedrive)).toBe(false);
    expect(usesTokenGrant(woocommerce)).toBe(false);
    expect(usesTokenGrant(jsonplaceholder)).toBe(false);
  });
});

describe('connectionState', () => {
  it('is available, without health, while there is no record', () => {
    for (const def of [pipedrive, woocommerce, hubspot, personio, jsonplaceholder]) {
      expect(connectionState(def, inputs({ hasRecord: false })), def.id).toEqual({ state: 'available' });
    }
  });

  it('makes a connector without auth callable as soon as it is added', () => {
    expect(connectionState(jsonplaceholder, inputs())).toEqual({ state: 'callable', health: 'ok' });
    expect(connectionState(jsonplaceholder, inputs({ authStatus: 'invalid', confirmed: false, lastRefreshFailedAt: 1 }))).toEqual({ state: 'callable', health: 'ok' });
  });

  it('reports a connector without auth as degraded after a downstream error', () => {
    // The proxy records downstream failures for every connector (src/proxy/forward.ts → recordDownstreamOutcome) and
    // emits vault.connection.downstream.degraded for them; the health must say so too. Currently the auth-none branch
    // returns health "ok" before looking at lastDownstreamErrorAt.
    expect(connectionState(jsonplaceholder, inputs({ lastDownstreamErrorAt: 1 }))).toEqual({ state: 'callable', health: 'degraded' });
  });

  describe.each([
    ['apiKey (zendesk)', zendesk, ZENDESK_SETTINGS],
    ['basic (woocommerce)', woocommerce, WOO_SETTINGS],
    ['custom (copper)', copper, { api_key: 'cu-secret', user_email: 'me@acme.test' }],
  ] as Array<[string, ConnectorDefinition, Record<string, unknown>]>)('%s', (_name, def, complete) => {
    it('is added with missing_settings while a required setting is blank', () => {
      expect(connectionState(def, inputs())).toEqual({ state: 'added', health: 'missing_settings' });
      const [first] = Object.keys(complete);
      expect(connectionState(def, inputs({ settings: { ...complete, [first]: '' } }))).toEqual({ state: 'added', health: 'missing_settings' });
    });

    it('is callable and ok once every required setting is there', () => {
      expect(connectionState(def, inputs({ settings: complete }))).toEqual({ state: 'callable', health: 'ok' });
    });

    it('is callable but degraded after a downstream error', () => {
      expect(connectionState(def, inputs({ settings: complete, lastDownstreamErrorAt: 1_700_000_000_000 }))).toEqual({ state: 'callable', health: 'degraded' });
    });

    it('is invalid and needs auth when the provider refused the credentials', () => {
      expect(connectionState(def, inputs({ settings: complete, authStatus: 'invalid' }))).toEqual({ state: 'invalid', health: 'needs_auth' });
    });

    it('reports missing settings before refused credentials', () => {
      expect(connectionState(def, inputs({ authStatus: 'invalid' }))).toEqual({ state: 'added', health: 'missing_settings' });
    });

    it('ignores the OAuth-only inputs (tokens, confirmation, refresh failures)', () => {
      expect(connectionState(def, inputs({ settings: complete, confirmed: false, hasAccessToken: false, lastRefreshFailedAt: 1 }))).toEqual({
        state: 'callable',
        health: 'ok',
      });
    });
  });

  describe.each([
    ['authorization_code (hubspot)', hubspot, {}],
    ['authorization_code (gitlab, default instance_url)', gitlab, {}],
    ['client_credentials (personio)', personio, PERSONIO_SETTINGS],
  ] as Array<[string, ConnectorDefinition, Record<string, unknown>]>)('oauth2 %s', (_name, def, complete) => {
    const authorized = (changes: Partial<StateInputs> = {}) => inputs({ settings: complete, hasAccessToken: true, ...changes });

    it('is added and needs auth until it holds an access token', () => {
      expect(connectionState(def, inputs({ settings: complete }))).toEqual({ state: 'added', health: 'needs_auth' });
    });

    it('is callable and ok with an access token', () => {
      expect(connectionState(def, authorized())).toEqual({ state: 'callable', health: 'ok' });
    });

    it('is callable but degraded after a downstream error', () => {
      expect(connectionState(def, authorized({ lastDownstreamErrorAt: 5 }))).toEqual({ state: 'callable', health: 'degraded' });
    });

    it('is callable with pending_refresh after a failed refresh, even when also degraded', () => {
      expect(connectionState(def, authorized({ lastRefreshFailedAt: 5 }))).toEqual({ state: 'callable', health: 'pending_refresh' });
      expect(connectionState(def, authorized({ lastRefreshFailedAt: 5, lastDownstreamErrorAt: 5 }))).toEqual({ state: 'callable', health: 'pending_refresh' });
    });

    it('is invalid and needs auth when the provider refused the grant, whatever else failed', () => {
      expect(connectionState(def, authorized({ authStatus: 'invalid' }))).toEqual({ state: 'invalid', health: 'needs_auth' });
      expect(connectionState(def, authorized({ authStatus: 'invalid', lastRefreshFailedAt: 5 }))).toEqual({ state: 'invalid', health: 'needs_auth' });
    });

    it('is added with pending_confirmation while the authorization waits for confirmation', () => {
      expect(connectionState(def, authorized({ confirmed: false }))).toEqual({ state: 'added', health: 'pending_confirmation' });
      expect(connectionState(def, authorized({ confirmed: false, authStatus: 'invalid' }))).toEqual({ state: 'added', health: 'pending_confirmation' });
    });

    it('is added with revoked health once revoked, with or without tokens', () => {
      expect(connectionState(def, inputs({ settings: complete, authStatus: 'revoked' }))).toEqual({ state: 'added', health: 'revoked' });
      expect(connectionState(def, authorized({ authStatus: 'revoked' }))).toEqual({ state: 'added', health: 'revoked' });
    });
  });

  describe('oauth2 with required settings', () => {
    it('is added with missing_settings before authorization when a required setting is blank', () => {
      expect(connectionState(authCodeWithRequired, inputs())).toEqual({ state: 'added', health: 'missing_settings' });
      expect(connectionState(personio, inputs({ settings: { client_id: 'pid' } }))).toEqual({ state: 'added', health: 'missing_settings' });
    });

    it('is authorized (not callable) with missing_settings when it holds a token but a required setting is blank', () => {
      expect(connectionState(authCodeWithRequired, inputs({ hasAccessToken: true }))).toEqual({ state: 'authorized', health: 'missing_settings' });
      expect(connectionState(authCodeWithRequired, inputs({ hasAccessToken: true, lastRefreshFailedAt: 1 }))).toEqual({
        state: 'authorized',
        health: 'missing_settings',
      });
    });

    it('is callable once the setting is filled', () => {
      expect(connectionState(authCodeWithRequired, inputs({ hasAccessToken: true, settings: { account_id: '42' } }))).toEqual({ state: 'callable', health: 'ok' });
    });

    it('reports revocation before missing settings', () => {
      expect(connectionState(authCodeWithRequired, inputs({ authStatus: 'revoked' }))).toEqual({ state: 'added', health: 'revoked' });
    });
  });
});

describe('stateOfRecord', () => {
  it('is available without a record', () => {
    for (const def of [pipedrive, zendesk, woocommerce, hubspot, salesforce, personio, jsonplaceholder]) expect(stateOfRecord(def, null), def.id).toBe('available');
  });

  it('reads an apiKey connection from its settings and auth status', () => {
    expect(stateOfRecord(pipedrive, record(pipedrive))).toBe('added');
    expect(stateOfRecord(pipedrive, record(pipedrive, { settings: { api_key: 'pd-secret' } }))).toBe('callable');
    expect(stateOfRecord(pipedrive, record(pipedrive, { settings: { api_key: 'pd-secret' }, authStatus: 'invalid' }))).toBe('invalid');
    expect(stateOfRecord(pipedrive, record(pipedrive, { settings: { api_key: 'pd-secret' }, lastDownstreamErrorAt: 1 }))).toBe('callable');
    expect(stateOfRecord(zendesk, record(zendesk, { settings: { api_key: 'zd-secret' } }))).toBe('added');
    expect(stateOfRecord(zendesk, record(zendesk, { settings: ZENDESK_SETTINGS }))).toBe('callable');
  });

  it('reads a basic connection from its settings and auth status', () => {
    expect(stateOfRecord(woocommerce, record(woocommerce, { settings: { store_url: 'https://shop.example.com' } }))).toBe('added');
    expect(stateOfRecord(woocommerce, record(woocommerce, { settings: WOO_SETTINGS }))).toBe('callable');
    expect(stateOfRecord(woocommerce, record(woocommerce, { settings: WOO_SETTINGS, authStatus: 'invalid' }))).toBe('invalid');
  });

  it('reads an authorization-code connection from its tokens', () => {
    expect(stateOfRecord(salesforce, record(salesforce))).toBe('added');
    expect(stateOfRecord(salesforce, record(salesforce, { credentials: { access_token: '' } }))).toBe('added');
    expect(stateOfRecord(salesforce, record(salesforce, { credentials: TOKENS }))).toBe('callable');
    expect(stateOfRecord(salesforce, record(salesforce, { credentials: TOKENS, lastRefreshFailedAt: 1 }))).toBe('callable');
    expect(stateOfRecord(salesforce, record(salesforce, { credentials: TOKENS, confirmed: false }))).toBe('added');
    expect(stateOfRecord(salesforce, record(salesforce, { credentials: TOKENS, authStatus: 'invalid' }))).toBe('invalid');
    expect(stateOfRecord(salesforce, record(salesforce, { authStatus: 'revoked' }))).toBe('added');
    expect(stateOfRecord(authCodeWithRequired, record(authCodeWithRequired, { credentials: TOKENS }))).toBe('authorized');
    expect(stateOfRecord(authCodeWithRequired, record(authCodeWithRequired, { credentials: TOKENS, settings: { account_id: '1' } }))).toBe('callable');
  });

  it('reads a client-credentials connection from its settings and token', () => {
    expect(stateOfRecord(personio, record(personio))).toBe('added');
    expect(stateOfRecord(personio, record(personio, { settings: PERSONIO_SETTINGS }))).toBe('added');
    expect(stateOfRecord(personio, record(personio, { settings: PERSONIO_SETTINGS, credentials: { access_token: 'cc-token' } }))).toBe('callable');
    expect(stateOfRecord(personio, record(personio, { settings: PERSONIO_SETTINGS, credentials: { access_token: 'cc-token' }, authStatus: 'invalid' }))).toBe(
      'invalid',
    );
  });

  it('makes a blank record of a connector without auth callable', () => {
    expect(stateOfRecord(jsonplaceholder, record(jsonplaceholder))).toBe('callable');
  });
});

describe('integrationState', () => {
  const enabled = { enabled: 1, client_sealed: null };
  const withClient = { enabled: 1, client_sealed: 'sealed-client' };

  it('is disabled when the application has not enabled the connector, whatever its auth', () => {
    for (const def of [pipedrive, hubspot, personio, jsonplaceholder]) {
      expect(integrationState(def, { enabled: 0, client_sealed: 'sealed-client' }), def.id).toBe('disabled');
    }
  });

  it('needs configuration for an authorization-code connector without an OAuth client', () => {
    expect(integrationState(hubspot, enabled)).toBe('needs_configuration');
    expect(integrationState(salesforce, enabled)).toBe('needs_configuration');
  });

  it('is configured for an authorization-code connector once the application has a client', () => {
    expect(integrationState(hubspot, withClient)).toBe('configured');
  });

  it('is configured for an authorization-code connector whose consumers bring their own client_id', () => {
    const def = connector({ auth_type: 'oauth2', oauth: oauthSettings('authorization_code'), form_fields: [field('client_id', { required: true })] });
    expect(integrationState(def, enabled)).toBe('configured');
  });

  it('is configured without a client for token-grant, apiKey, basic and no-auth connectors', () => {
    for (const def of [personio, pipedrive, woocommerce, jsonplaceholder]) expect(integrationState(def, enabled), def.id).toBe('configured');
  });
});
