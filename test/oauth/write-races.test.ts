// Writers meeting a slow refresh: a provider that rotates refresh tokens answers refresh grants after ~2 s, and a
// PATCH, a consent update or a revoke lands meanwhile. No writer may lose: the rotated refresh token is what is stored
// (and it works), the patch is what is stored, and a revoke is never undone by the refresh that finishes after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/coffer.js';
import {
  api,
  APP_REDIRECT,
  authorize,
  credentials,
  fetchManual,
  getConnection,
  outbox,
  providerToken,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

const SLOW_TOKEN_MS = 2_000;

describe.each(backends)('writes racing a slow refresh (%s)', (backend) => {
  let h: Harness;
  let svc: string;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'race-oidc' }]);
    svc = h.services['race-oidc'];
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Authorizes `consumer`; returns the refresh token the provider issued. */
  async function connect(consumer: string): Promise<string> {
    await authorize(h, consumer, svc);
    const creds = await credentials(h.coffer, consumer, 'crm', svc);
    expect(creds.status, creds.text).toBe(200);
    const issued = h.grants.find((g) => g.grantType === 'authorization_code' && g.accessToken === creds.body.data.access_token);
    return issued!.refreshToken!;
  }

  /** Starts a forced refresh whose token request the provider holds for SLOW_TOKEN_MS; resolves once it is in flight. */
  async function startSlowRefresh(consumer: string) {
    let release!: () => void;
    h.provider.tokenHold = new Promise<void>((resolve) => (release = resolve));
    const hits = h.provider.tokenEndpointHits;
    const refresh = api(h.coffer, consumer, 'POST', `/vault/connections/crm/${svc}/validate`);
    while (h.provider.tokenEndpointHits === hits) await new Promise((resolve) => setTimeout(resolve, 10));
    const timer = setTimeout(release, SLOW_TOKEN_MS);
    return {
      refresh,
      done: async () => {
        const result = await refresh;
        clearTimeout(timer);
        h.provider.tokenHold = null;
        return result;
      },
    };
  }

  const rotationOf = (presented: string) => h.grants.find((g) => g.grantType === 'refresh_token' && g.presented === presented);

  it('a PATCH of the settings during the refresh: both succeed, the patch and the rotated token are stored, and the rotated token works', async () => {
    const consumer = 'race-patch';
    const original = await connect(consumer);
    const slow = await startSlowRefresh(consumer);

    const patched = await api(h.coffer, consumer, 'PATCH', `/vault/connections/crm/${svc}`, { settings: { workspace: 'acme' } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.data.settings.workspace).toBe('acme');

    const refreshed = await slow.done();
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.body.data.state).toBe('callable');

    // The provider rotated: the token it issued for the old one is what Coffer now hands out, next to the patch.
    const rotation = rotationOf(original);
    expect(rotation?.refreshToken).toEqual(expect.any(String));
    expect((await credentials(h.coffer, consumer, 'crm', svc)).body.data.access_token).toBe(rotation!.accessToken);
    expect((await getConnection(h.coffer, consumer, 'crm', svc)).settings.workspace).toBe('acme');

    // The next refresh presents the rotated token and succeeds.
    const next = await api(h.coffer, consumer, 'POST', `/vault/connections/crm/${svc}/validate`);
    expect(next.status, next.text).toBe(200);
    expect(next.body.data.state).toBe('callable');
    expect(rotationOf(rotation!.refreshToken!)?.accessToken).toBe((await credentials(h.coffer, consumer, 'crm', svc)).body.data.access_token);

    // The provider's own records: the original refresh token is spent. (Checked last: reusing a rotated refresh token
    // makes oidc-provider revoke the whole grant.)
    const old = await providerToken(h.provider, { grant_type: 'refresh_token', refresh_token: original });
    expect(old.status).toBe(400);
    expect(old.body.error).toBe('invalid_grant');
  });

  it('a consent update during the refresh: both succeed, the consent and the rotated token are stored', async () => {
    const consumer = 'race-consent';
    const original = await connect(consumer);
    const slow = await startSlowRefresh(consumer);

    const consent = await api(h.coffer, consumer, 'PATCH', `/vault/connections/crm/${svc}/consent`, { granted: true, resources: '*' });
    expect(consent.status, consent.text).toBe(200);

    const refreshed = await slow.done();
    expect(refreshed.status, refreshed.text).toBe(200);

    const rotation = rotationOf(original);
    expect((await credentials(h.coffer, consumer, 'crm', svc)).body.data.access_token).toBe(rotation!.accessToken);
    const conn = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(conn.consent_state).toBe('granted');
    expect(conn.consents).toHaveLength(1);
    const next = await api(h.coffer, consumer, 'POST', `/vault/connections/crm/${svc}/validate`);
    expect(next.status, next.text).toBe(200);
    expect(rotationOf(rotation!.refreshToken!)).toBeDefined();
  });

  it('a revoke during the refresh wins: no token comes back, and the refresh caller is told so', async () => {
    const consumer = 'race-revoke';
    const original = await connect(consumer);
    const conn = await getConnection(h.coffer, consumer, 'crm', svc);
    const slow = await startSlowRefresh(consumer);

    const revoked = await fetchManual(withParams(conn.revoke_url, { redirect_uri: APP_REDIRECT }));
    expect(revoked.status, await revoked.text()).toBe(301);

    const refreshed = await slow.done();
    expect(refreshed.status, refreshed.text).toBe(422);
    expect(refreshed.body.message).toMatch(/revoked while its token was being refreshed/);
    // The provider did rotate, but Coffer kept nothing of it.
    expect(rotationOf(original)?.accessToken).toEqual(expect.any(String));

    const after = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(after.state).toBe('added');
    expect(after.health).toBe('revoked');
    const creds = await credentials(h.coffer, consumer, 'crm', svc);
    expect(creds.status, creds.text).toBe(422);
    const stored = await h.coffer.runtime.ctx.connections.find({ applicationId: h.coffer.appId, consumerId: consumer, serviceId: svc });
    expect(stored!.credentials).toBeNull();
    // The tokens issued to the refresh that lost are revoked at the provider (in the background), not left alive.
    const orphan = rotationOf(original)!.accessToken!;
    const deadline = Date.now() + 5_000;
    while ((await h.provider.provider.AccessToken.find(orphan)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await h.provider.provider.AccessToken.find(orphan)).toBeUndefined();
    const events = (await outbox(h.coffer, { consumer })).map((e) => e.event_type);
    expect(events.slice(-2)).toEqual(['vault.connection.updated', 'vault.connection.revoked']);
  });
});
