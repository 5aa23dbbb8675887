// The pure rules of the token refresh (src/oauth/refresh.ts): whether a record still holds the grant a refresh
// started from, whether a refresh already running covers a caller, whether a refresh is still needed, and which
// events its outcome emits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { covers, refreshEvents, sameGrant, stillNeeded, type RefreshReason } from '../../src/oauth/refresh.js';
import type { ConnectionRecord, TokenSet } from '../../src/store/connection-record.js';
import type { VaultContext } from '../../src/vault/context.js';
import { builtin, record } from '../support/unit.js';

const salesforce = builtin('salesforce');
const NOW = 1_750_000_000_000;
const MARGIN = 60_000;
const ctx = { oauth: { refreshMarginMs: MARGIN } } as unknown as VaultContext;

const GRANT: TokenSet = { access_token: 'at-1', refresh_token: 'rt-1', token_type: 'bearer', scope: 'api' };

function connection(changes: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return record(salesforce, { credentials: { ...GRANT }, tokenExpiresAt: NOW + 3_600_000, createdAt: NOW - 86_400_000, updatedAt: NOW - 3_600_000, ...changes });
}

describe('sameGrant', () => {
  it('is true while the record holds the refresh token the refresh used', () => {
    expect(sameGrant(connection(), GRANT)).toBe(true);
  });

  it('is true when only the access token changed under the same refresh token (a provider that does not rotate)', () => {
    expect(sameGrant(connection({ credentials: { ...GRANT, access_token: 'at-2' } }), GRANT)).toBe(true);
  });

  it('is false once the refresh token was replaced (rotated elsewhere, or a new authorization)', () => {
    expect(sameGrant(connection({ credentials: { ...GRANT, access_token: 'at-2', refresh_token: 'rt-2' } }), GRANT)).toBe(false);
    expect(sameGrant(connection({ credentials: { access_token: 'at-1', refresh_token: null } }), GRANT)).toBe(false);
  });

  it('is false once the credentials are gone', () => {
    expect(sameGrant(connection({ credentials: null }), GRANT)).toBe(false);
  });

  it('is false for a revoked connection, even one still showing the same tokens', () => {
    expect(sameGrant(connection({ authStatus: 'revoked' }), GRANT)).toBe(false);
    expect(sameGrant(connection({ authStatus: 'revoked', credentials: null }), GRANT)).toBe(false);
  });

  it('is true for a connection marked invalid that still holds the grant', () => {
    expect(sameGrant(connection({ authStatus: 'invalid' }), GRANT)).toBe(true);
  });

  it('compares access tokens when the grant had no refresh token', () => {
    const used: TokenSet = { access_token: 'cc-1', refresh_token: null };
    expect(sameGrant(connection({ credentials: { access_token: 'cc-1', refresh_token: null } }), used)).toBe(true);
    expect(sameGrant(connection({ credentials: { access_token: 'cc-2', refresh_token: null } }), used)).toBe(false);
    expect(sameGrant(connection({ credentials: { access_token: 'cc-2', refresh_token: 'rt-new' } }), { access_token: 'cc-1' })).toBe(false);
    expect(sameGrant(connection({ credentials: { access_token: 'cc-1' }, authStatus: 'revoked' }), used)).toBe(false);
  });
});

describe('covers', () => {
  const result = connection({ credentials: { ...GRANT, access_token: 'at-2' } });

  it('lets any run cover a caller that only wants a usable token', () => {
    for (const ran of [{}, { force: true }, { stale: true }, { rejectedAccessToken: 'at-1' }] as RefreshReason[]) {
      expect(covers(ran, {}, result), JSON.stringify(ran)).toBe(true);
    }
    expect(covers({}, { stale: true }, result)).toBe(true);
  });

  it('does not let an unforced run cover a forced request', () => {
    expect(covers({}, { force: true }, result)).toBe(false);
    expect(covers({ stale: true }, { force: true }, result)).toBe(false);
    expect(covers({ rejectedAccessToken: 'at-1' }, { force: true }, result)).toBe(false);
  });

  it('lets a forced run cover a forced request', () => {
    expect(covers({ force: true }, { force: true }, result)).toBe(true);
  });

  it('covers a rejected access token only when the result holds a different one', () => {
    expect(covers({}, { rejectedAccessToken: 'at-1' }, result)).toBe(true);
    expect(covers({}, { rejectedAccessToken: 'at-2' }, result)).toBe(false);
    expect(covers({ force: true }, { rejectedAccessToken: 'at-2' }, result)).toBe(false);
  });

  it('needs both when a forced request also names a rejected token', () => {
    expect(covers({ force: true }, { force: true, rejectedAccessToken: 'at-1' }, result)).toBe(true);
    expect(covers({ force: true }, { force: true, rejectedAccessToken: 'at-2' }, result)).toBe(false);
    expect(covers({}, { force: true, rejectedAccessToken: 'at-1' }, result)).toBe(false);
  });
});

describe('stillNeeded', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is not needed for a token that expires after the margin', () => {
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: NOW + MARGIN + 1 }), {})).toBe(false);
  });

  it('is needed once the token is within the margin of its expiry, or expired', () => {
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: NOW + MARGIN }), {})).toBe(true);
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: NOW - 1 }), {})).toBe(true);
  });

  it('is never needed for a token without expiry unless forced', () => {
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: null }), {})).toBe(false);
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: null }), { force: true })).toBe(true);
  });

  it('is always needed when forced', () => {
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: NOW + 3_600_000 }), { force: true })).toBe(true);
  });

  it('for a rejected access token: needed only while the record still holds that token', () => {
    expect(stillNeeded(ctx, connection(), { rejectedAccessToken: 'at-1' })).toBe(true);
    expect(stillNeeded(ctx, connection({ credentials: { ...GRANT, access_token: 'at-2' } }), { rejectedAccessToken: 'at-1' })).toBe(false);
    expect(stillNeeded(ctx, connection({ credentials: null }), { rejectedAccessToken: 'at-1' })).toBe(false);
  });

  it('for a rejected access token: the expiry does not matter', () => {
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: NOW - 1 }), { rejectedAccessToken: 'at-other' })).toBe(false);
    expect(stillNeeded(ctx, connection({ tokenExpiresAt: null }), { rejectedAccessToken: 'at-1' })).toBe(true);
  });

  it('for a stale pass: needed when a refresh token sat unused for more than a minute', () => {
    expect(stillNeeded(ctx, connection({ updatedAt: NOW - 60_001, tokenExpiresAt: null }), { stale: true })).toBe(true);
    expect(stillNeeded(ctx, connection({ updatedAt: NOW - 60_000 }), { stale: true })).toBe(false);
    expect(stillNeeded(ctx, connection({ updatedAt: NOW }), { stale: true })).toBe(false);
  });

  it('for a stale pass: not needed without a refresh token', () => {
    expect(stillNeeded(ctx, connection({ credentials: { access_token: 'at-1', refresh_token: null }, updatedAt: NOW - 86_400_000 }), { stale: true })).toBe(false);
    expect(stillNeeded(ctx, connection({ credentials: null, updatedAt: NOW - 86_400_000 }), { stale: true })).toBe(false);
  });
});

describe('refreshEvents', () => {
  const healthy = connection({ lastRefreshFailedAt: null });
  const failing = connection({ lastRefreshFailedAt: NOW - 600_000 });

  it('emits nothing for a routine successful refresh', () => {
    expect(refreshEvents(healthy, true, false)).toEqual([]);
  });

  it('emits recovered when a refresh succeeds after failures', () => {
    expect(refreshEvents(failing, true, false)).toEqual(['vault.connection.token_refresh.recovered']);
  });

  it('emits failed whenever the provider rejects the grant', () => {
    expect(refreshEvents(healthy, false, true)).toEqual(['vault.connection.token_refresh.failed']);
    expect(refreshEvents(failing, false, true)).toEqual(['vault.connection.token_refresh.failed']);
  });

  it('emits pending on the first transient failure only', () => {
    expect(refreshEvents(healthy, false, false)).toEqual(['vault.connection.token_refresh.pending']);
    expect(refreshEvents(failing, false, false)).toEqual([]);
  });
});
