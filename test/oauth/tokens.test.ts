// What a token response changes on a connection, and when a token is due for refresh (src/oauth/tokens.ts).
import type { TokenEndpointResponse } from 'oauth4webapi';
import { describe, expect, it } from 'vitest';
import { applyTokenResponse, needsRefresh } from '../../src/oauth/tokens.js';
import type { ConnectionRecord } from '../../src/store/connection-record.js';
import { builtin, connector, field, oauthSettings, record } from '../support/unit.js';

const salesforce = builtin('salesforce'); // instance_url (not sensitive) comes with the token response
const personio = builtin('personio'); // client_id, client_secret (sensitive)
const hubspot = builtin('hubspot'); // no settings

const NOW = 1_750_000_000_000;

function response(fields: Record<string, unknown>): TokenEndpointResponse {
  return { token_type: 'bearer', ...fields } as TokenEndpointResponse;
}

/** A Salesforce connection holding a first grant that has since gone bad. */
function authorized(changes: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return record(salesforce, {
    settings: { instance_url: 'https://acme.my.salesforce.com' },
    credentials: { access_token: 'at-old', refresh_token: 'rt-old', token_type: 'bearer', scope: 'api refresh_token' },
    tokenExpiresAt: NOW - 1_000,
    ...changes,
  });
}

describe('applyTokenResponse', () => {
  it('stores the first grant of a connection', () => {
    const rec = record(hubspot);
    applyTokenResponse(hubspot, rec, response({ access_token: 'at-1', refresh_token: 'rt-1', expires_in: 1800, scope: 'oauth crm.objects.contacts.read' }), NOW);
    expect(rec.credentials).toEqual({ access_token: 'at-1', refresh_token: 'rt-1', token_type: 'bearer', scope: 'oauth crm.objects.contacts.read' });
    expect(rec.tokenExpiresAt).toBe(NOW + 1_800_000);
    expect(rec.authStatus).toBe('ok');
  });

  it('replaces the refresh token with a rotated one', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new', refresh_token: 'rt-new' }), NOW);
    expect(rec.credentials?.access_token).toBe('at-new');
    expect(rec.credentials?.refresh_token).toBe('rt-new');
  });

  it('keeps the old refresh token when the response carries none', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new' }), NOW);
    expect(rec.credentials?.access_token).toBe('at-new');
    expect(rec.credentials?.refresh_token).toBe('rt-old');
  });

  it('has no refresh token when neither the response nor the record has one', () => {
    const rec = record(personio, { settings: { client_id: 'pid', client_secret: 'psecret' } });
    applyTokenResponse(personio, rec, response({ access_token: 'cc-1', expires_in: 3600 }), NOW);
    expect(rec.credentials).toEqual({ access_token: 'cc-1', refresh_token: null, token_type: 'bearer', scope: null });
  });

  it('stores only the token fields (no id_token or other response members)', () => {
    const rec = record(hubspot);
    applyTokenResponse(hubspot, rec, response({ access_token: 'at-1', id_token: 'header.payload.sig', hub_id: 123 }), NOW);
    expect(rec.credentials).toEqual({ access_token: 'at-1', refresh_token: null, token_type: 'bearer', scope: null });
  });

  it('turns expires_in into an expiry time from the given now', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new', expires_in: 3600 }), NOW);
    expect(rec.tokenExpiresAt).toBe(NOW + 3_600_000);
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-newer', expires_in: 0 }), NOW + 5);
    expect(rec.tokenExpiresAt).toBe(NOW + 5);
  });

  it('clears the expiry when the response has no expires_in', () => {
    const rec = authorized({ tokenExpiresAt: NOW + 60_000 });
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new' }), NOW);
    expect(rec.tokenExpiresAt).toBeNull();
  });

  it('defaults the token type to bearer and keeps a type the provider gives', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, { access_token: 'at-new' } as unknown as TokenEndpointResponse, NOW);
    expect(rec.credentials?.token_type).toBe('bearer');
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-dpop', token_type: 'dpop' }), NOW);
    expect(rec.credentials?.token_type).toBe('dpop');
  });

  it('keeps the granted scope when the response leaves it out, and takes a new one', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new' }), NOW);
    expect(rec.credentials?.scope).toBe('api refresh_token');
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-newer', scope: 'api' }), NOW);
    expect(rec.credentials?.scope).toBe('api');
  });

  it('resets the auth status, error and refresh-failure fields', () => {
    const rec = authorized({ authStatus: 'invalid', authError: 'invalid_grant: expired', lastRefreshFailedAt: NOW - 10_000, credentialsExpireAt: NOW + 1_000 });
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new' }), NOW);
    expect(rec.authStatus).toBe('ok');
    expect(rec.authError).toBeNull();
    expect(rec.lastRefreshFailedAt).toBeNull();
    expect(rec.credentialsExpireAt).toBeNull();
  });

  it('makes a revoked connection ok again with a new grant', () => {
    const rec = record(salesforce, { authStatus: 'revoked' });
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-1', refresh_token: 'rt-1' }), NOW);
    expect(rec.authStatus).toBe('ok');
    expect(rec.credentials?.refresh_token).toBe('rt-1');
  });

  it('leaves the fields a token response does not speak for', () => {
    const rec = authorized({ confirmed: false, enabled: false, metadata: { plan: 'pro' }, lastDownstreamErrorAt: NOW - 5 });
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new' }), NOW);
    expect(rec.confirmed).toBe(false);
    expect(rec.enabled).toBe(false);
    expect(rec.metadata).toEqual({ plan: 'pro' });
    expect(rec.lastDownstreamErrorAt).toBe(NOW - 5);
  });

  it('fills a non-sensitive setting from the matching response member (Salesforce instance_url)', () => {
    const rec = record(salesforce);
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-1', instance_url: 'https://acme.my.salesforce.com', id: 'https://login.salesforce.com/id/00D/005' }), NOW);
    expect(rec.settings).toEqual({ instance_url: 'https://acme.my.salesforce.com' });
  });

  it('replaces a stored non-sensitive setting with the response value and keeps the others', () => {
    const def = connector({
      auth_type: 'oauth2',
      oauth: oauthSettings('authorization_code'),
      form_fields: [field('instance_url', { type: 'url' }), field('division')],
    });
    const rec = record(def, { settings: { instance_url: 'https://old.example.com', division: '42' } });
    applyTokenResponse(def, rec, response({ access_token: 'at-1', instance_url: 'https://new.example.com' }), NOW);
    expect(rec.settings).toEqual({ instance_url: 'https://new.example.com', division: '42' });
  });

  it('ignores response members that are empty or not strings', () => {
    const rec = authorized();
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new', instance_url: '' }), NOW);
    expect(rec.settings).toEqual({ instance_url: 'https://acme.my.salesforce.com' });
    applyTokenResponse(salesforce, rec, response({ access_token: 'at-new', instance_url: 42 }), NOW);
    expect(rec.settings).toEqual({ instance_url: 'https://acme.my.salesforce.com' });
  });

  it('never fills a sensitive setting from the response', () => {
    const rec = record(personio, { settings: { client_id: 'pid', client_secret: 'psecret' } });
    applyTokenResponse(personio, rec, response({ access_token: 'cc-1', client_id: 'other-id', client_secret: 'other-secret' }), NOW);
    expect(rec.settings).toEqual({ client_id: 'pid', client_secret: 'psecret' });
    const fresh = record(personio);
    applyTokenResponse(personio, fresh, response({ access_token: 'cc-1', client_secret: 'other-secret' }), NOW);
    expect(fresh.settings).toEqual({});
  });
});

describe('needsRefresh', () => {
  const MARGIN = 60_000;
  const expiring = (tokenExpiresAt: number | null) => record(salesforce, { credentials: { access_token: 'at' }, tokenExpiresAt });

  it('never refreshes a token without an expiry', () => {
    expect(needsRefresh(expiring(null), MARGIN, NOW)).toBe(false);
    expect(needsRefresh(expiring(null), Number.MAX_SAFE_INTEGER, NOW)).toBe(false);
  });

  it('does not refresh before the margin starts', () => {
    expect(needsRefresh(expiring(NOW + MARGIN + 1), MARGIN, NOW)).toBe(false);
    expect(needsRefresh(expiring(NOW + 3_600_000), MARGIN, NOW)).toBe(false);
  });

  it('refreshes from the first millisecond of the margin', () => {
    expect(needsRefresh(expiring(NOW + MARGIN), MARGIN, NOW)).toBe(true);
    expect(needsRefresh(expiring(NOW + MARGIN - 1), MARGIN, NOW)).toBe(true);
  });

  it('refreshes an expired token', () => {
    expect(needsRefresh(expiring(NOW), MARGIN, NOW)).toBe(true);
    expect(needsRefresh(expiring(NOW - 1), MARGIN, NOW)).toBe(true);
  });

  it('with no margin, refreshes at the expiry itself and not a millisecond before', () => {
    expect(needsRefresh(expiring(NOW), 0, NOW)).toBe(true);
    expect(needsRefresh(expiring(NOW + 1), 0, NOW)).toBe(false);
  });

  it('uses the current time by default', () => {
    expect(needsRefresh(expiring(Date.now() - 1), 0)).toBe(true);
    expect(needsRefresh(expiring(Date.now() + 3_600_000), MARGIN)).toBe(false);
  });
});
