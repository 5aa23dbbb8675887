// Refresh-token rotation, a refused refresh token (no retry storm), import followed by refresh, and revocation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, editConnections } from '../support/coffer.js';
import { expectErrorEnvelope } from '../support/envelope.js';
import {
  api,
  APP_REDIRECT,
  authorize,
  credentials,
  directTokens,
  fetchManual,
  getConnection,
  outbox,
  providerRevoke,
  providerToken,
  refreshCount,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

describe.each(backends)('OAuth token lifecycle (%s)', (backend) => {
  let h: Harness;
  let svc: string;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'life-oidc' }]);
    svc = h.services['life-oidc'];
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Authorizes `consumer`; returns the access token Coffer hands out and the refresh token the provider issued with it. */
  async function connect(consumer: string): Promise<{ accessToken: string; refreshToken: string }> {
    await authorize(h, consumer, svc);
    const creds = await credentials(h.coffer, consumer, 'crm', svc);
    expect(creds.status, creds.text).toBe(200);
    const issued = h.grants.find((g) => g.grantType === 'authorization_code' && g.accessToken === creds.body.data.access_token);
    expect(issued?.refreshToken).toEqual(expect.any(String));
    return { accessToken: creds.body.data.access_token, refreshToken: issued!.refreshToken! };
  }

  const validate = (consumer: string) => api(h.coffer, consumer, 'POST', `/vault/connections/crm/${svc}/validate`);

  it('rotation: a forced refresh stores the new refresh token; the old one is refused by the provider', async () => {
    const consumer = 'life-rotate';
    const first = await connect(consumer);
    const before = refreshCount(h.provider);

    const validated = await validate(consumer);
    expect(validated.status, validated.text).toBe(200);
    expect(validated.body.data.state).toBe('callable');
    expect(refreshCount(h.provider)).toBe(before + 1);
    const rotation = h.grants[h.grants.length - 1];
    expect(rotation.grantType).toBe('refresh_token');
    expect(rotation.presented).toBe(first.refreshToken);
    expect(rotation.refreshToken).toEqual(expect.any(String));
    expect(rotation.refreshToken).not.toBe(first.refreshToken);

    const creds = await credentials(h.coffer, consumer, 'crm', svc);
    expect(creds.body.data.access_token).toBe(rotation.accessToken);
    expect(creds.body.data.access_token).not.toBe(first.accessToken);

    // A later refresh works, and presents the rotated token: the new one is what Coffer stored.
    const later = await validate(consumer);
    expect(later.status, later.text).toBe(200);
    expect(later.body.data.state).toBe('callable');
    expect(refreshCount(h.provider)).toBe(before + 2);
    const second = h.grants[h.grants.length - 1];
    expect(second.presented).toBe(rotation.refreshToken);
    expect((await credentials(h.coffer, consumer, 'crm', svc)).body.data.access_token).toBe(second.accessToken);

    // The first refresh token is dead at the provider. (Checked last: oidc-provider treats the reuse of a rotated
    // refresh token as theft and revokes the whole grant, so no refresh could follow it.)
    const old = await providerToken(h.provider, { grant_type: 'refresh_token', refresh_token: first.refreshToken });
    expect(old.status).toBe(400);
    expect(old.body.error).toBe('invalid_grant');
  });

  it('invalid_grant: 401, state invalid, token_refresh.failed, and no further refresh attempts', async () => {
    const consumer = 'life-invalid';
    const { refreshToken } = await connect(consumer);
    await providerRevoke(h.provider, refreshToken, 'refresh_token');
    await editConnections(h.coffer, { token_expires_at: Date.now() - 60_000 }, { consumerId: consumer, serviceId: svc });
    const before = refreshCount(h.provider);

    const refused = await fetch(`${h.coffer.url}/vault/connections/crm/${svc}/credentials`, { headers: h.coffer.headers(consumer) });
    await expectErrorEnvelope(refused, 401, 'UnauthorizedError');
    expect(refreshCount(h.provider)).toBe(before + 1);
    expect(h.grants.some((g) => g.presented === refreshToken)).toBe(false);

    const conn = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(conn.state).toBe('invalid');
    const events = (await outbox(h.coffer, { consumer })).map((e) => e.event_type);
    expect(events).toContain('vault.connection.token_refresh.failed');
    expect(events.filter((e) => e === 'vault.connection.token_refresh.failed')).toHaveLength(1);

    for (let i = 0; i < 5; i++) {
      const again = await credentials(h.coffer, consumer, 'crm', svc);
      expect(again.status, again.text).toBe(401);
    }
    expect(refreshCount(h.provider)).toBe(before + 1);
    expect((await outbox(h.coffer, { consumer })).filter((e) => e.event_type === 'vault.connection.token_refresh.failed')).toHaveLength(1);

    // Authorizing again is the way out: callable, and a token is handed out again.
    await authorize(h, consumer, svc);
    expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('callable');
    const back = await credentials(h.coffer, consumer, 'crm', svc);
    expect(back.status, back.text).toBe(200);
    expect((await outbox(h.coffer, { consumer })).map((e) => e.event_type).slice(-1)).toEqual(['vault.connection.callable']);
  });

  it('import without issued_at/expires_in refreshes on first use; with a fresh expiry it does not', async () => {
    const stale = await directTokens(h.provider);
    const imported = await api(h.coffer, 'life-import', 'POST', `/vault/connections/crm/${svc}/import`, {
      credentials: { access_token: stale.access_token, refresh_token: stale.refresh_token },
    });
    expect(imported.status, imported.text).toBe(200);
    expect(imported.text).not.toContain(stale.access_token);
    expect(imported.text).not.toContain(stale.refresh_token);
    const before = refreshCount(h.provider);
    const creds = await credentials(h.coffer, 'life-import', 'crm', svc);
    expect(creds.status, creds.text).toBe(200);
    expect(refreshCount(h.provider)).toBe(before + 1);
    expect(h.grants[h.grants.length - 1].presented).toBe(stale.refresh_token);
    expect(creds.body.data.access_token).not.toBe(stale.access_token);
    expect(creds.body.data.access_token).toBe(h.grants[h.grants.length - 1].accessToken);
    // Fresh now: a second call does not go back to the provider.
    expect((await credentials(h.coffer, 'life-import', 'crm', svc)).body.data.access_token).toBe(creds.body.data.access_token);
    expect(refreshCount(h.provider)).toBe(before + 1);

    const fresh = await directTokens(h.provider);
    const second = await api(h.coffer, 'life-import-fresh', 'POST', `/vault/connections/crm/${svc}/import`, {
      credentials: { access_token: fresh.access_token, refresh_token: fresh.refresh_token, expires_in: 3600, issued_at: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(second.status, second.text).toBe(200);
    expect(second.body.data.state).toBe('callable');
    const unchanged = await credentials(h.coffer, 'life-import-fresh', 'crm', svc);
    expect(unchanged.status, unchanged.text).toBe(200);
    expect(unchanged.body.data.access_token).toBe(fresh.access_token);
    expect(unchanged.body.data.expires_in).toBeGreaterThan(3400);
    expect(refreshCount(h.provider)).toBe(before + 1);
  });

  it('revocation: 301 to the redirect_uri, tokens revoked at the provider, connection back to added/revoked', async () => {
    const consumer = 'life-revoke';
    const { accessToken, refreshToken } = await connect(consumer);
    const conn = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(conn.revoke_url).toMatch(new RegExp(`^${h.coffer.url}/vault/revoke/${svc}/${h.coffer.appId}\\?state=`));

    const res = await fetchManual(withParams(conn.revoke_url, { redirect_uri: APP_REDIRECT }));
    expect(res.status, await res.text()).toBe(301);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(APP_REDIRECT);
    expect(location.searchParams.get('service_id')).toBe(svc);

    // RFC 7009 honoured: the provider refuses the refresh token and no longer knows the access token.
    const refresh = await providerToken(h.provider, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect(await h.provider.provider.AccessToken.find(accessToken)).toBeUndefined();

    const after = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(after.state).toBe('added');
    expect(after.health).toBe('revoked');
    expect(after.revoke_url).toBeNull();
    const events = await outbox(h.coffer, { consumer });
    expect(events.map((e) => e.event_type)).toContain('vault.connection.revoked');
    for (const event of events) expect(event.raw).not.toContain(accessToken);

    const creds = await fetch(`${h.coffer.url}/vault/connections/crm/${svc}/credentials`, { headers: h.coffer.headers(consumer) });
    await expectErrorEnvelope(creds, 422, 'InvalidStateError');
  });
});
