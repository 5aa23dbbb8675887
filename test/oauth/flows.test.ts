// The authorization-code flow end to end through Coffer's endpoints, the session redirect, the nonce/confirm flow,
// the client_credentials grant and the `/credentials` extension.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/coffer.js';
import { browserFetch, followRedirects, newCookieJar } from '../support/oidc.js';
import { expectErrorEnvelope } from '../support/envelope.js';
import {
  api,
  APP_REDIRECT,
  authorize,
  CONSUMER_CONNECTION_KEYS,
  credentials,
  getConnection,
  outbox,
  runBrowser,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

const SESSION_REDIRECT = 'https://session.example/vault/back';

describe.each(backends)('OAuth flows through Coffer (%s)', (backend) => {
  let h: Harness;
  let svc: string;
  let cc: string;

  beforeAll(async () => {
    h = await startHarness(backend, [
      { id: 'flow-oidc' },
      { id: 'cc-oidc', grantType: 'client_credentials', consumerClient: true, unifiedApis: ['hris'], appClient: false },
    ]);
    svc = h.services['flow-oidc'];
    cc = h.services['cc-oidc'];
  });
  afterAll(async () => {
    await h?.close();
  });

  it('authorizes with PKCE S256, lands on the redirect_uri, is callable and emits created → updated → callable', async () => {
    const consumer = 'flow-alice';
    const before = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(before.state).toBe('available');
    expect(before.authorize_url).toMatch(new RegExp(`^${h.coffer.url}/vault/authorize/${svc}/${h.coffer.appId}\\?state=`));

    // Coffer's authorize answers with a 301 to the provider carrying a PKCE S256 challenge and Coffer's callback.
    const browser = newCookieJar();
    const start = await browserFetch(browser, withParams(before.authorize_url, { redirect_uri: APP_REDIRECT }));
    expect(start.status).toBe(301);
    const providerUrl = new URL(start.headers.get('location')!);
    await start.arrayBuffer();
    expect(providerUrl.origin + providerUrl.pathname).toBe(`${h.provider.issuer}/auth`);
    expect(providerUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(providerUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(providerUrl.searchParams.get('response_type')).toBe('code');
    expect(providerUrl.searchParams.get('client_id')).toBe(h.provider.clientId);
    expect(providerUrl.searchParams.get('redirect_uri')).toBe(`${h.coffer.url}/vault/callback`);
    expect(providerUrl.searchParams.get('state')).toEqual(expect.any(String));

    // The provider sends the browser back to /vault/callback, which answers with a 301 to the application.
    const atProvider = await followRedirects(providerUrl.toString(), (url) => url.toString().startsWith(`${h.coffer.url}/vault/callback?`), 20, browser);
    const callback = await browserFetch(browser, atProvider.url.toString());
    expect(callback.status, await callback.text()).toBe(301);
    expect(callback.headers.get('location')).toBe(APP_REDIRECT);

    const after = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(after.state).toBe('callable');
    expect(after.health).toBe('ok');
    expect(after.revoke_url).toEqual(expect.any(String));

    const creds = await credentials(h.coffer, consumer, 'crm', svc);
    expect(creds.status, creds.text).toBe(200);
    const accessToken = creds.body.data.access_token as string;

    const events = await outbox(h.coffer, { consumer });
    expect(events.map((e) => e.event_type)).toEqual(['vault.connection.created', 'vault.connection.updated', 'vault.connection.callable']);
    for (const event of events) {
      expect(event.service_id).toBe(svc);
      expect(event.payload.payload.event_type).toBe(event.event_type);
      const entity = event.payload.payload.entity;
      expect(entity.id).toBe(`crm+${svc}`);
      expect(entity.consumer_id).toBe(consumer);
      expect(entity.service_id).toBe(svc);
      for (const key of Object.keys(entity)) expect(CONSUMER_CONNECTION_KEYS).toContain(key);
      expect(event.raw).not.toContain(accessToken);
      expect(event.raw).not.toMatch(/access_token|refresh_token|"credentials"/);
    }
    expect(events[2].payload.payload.entity.state).toBe('callable');
    const issued = h.grants.filter((g) => g.accessToken === accessToken);
    expect(issued).toHaveLength(1);
    for (const event of events) expect(event.raw).not.toContain(issued[0].refreshToken!);
  });

  it("accepts a session JWT's own redirect_uri", async () => {
    const consumer = 'flow-session';
    const created = await api(h.coffer, consumer, 'POST', '/vault/sessions', { redirect_uri: SESSION_REDIRECT });
    expect(created.status, created.text).toBe(200);
    const jwt = created.body.data.session_token as string;
    const listed = await fetch(`${h.coffer.url}/vault/connections`, { headers: { authorization: `Bearer ${jwt}` } });
    const list = await listed.json();
    expect(listed.status, JSON.stringify(list)).toBe(200);
    const connection = list.data.find((c: any) => c.service_id === svc && c.unified_api === 'crm');
    expect(connection.authorize_url).toEqual(expect.any(String));

    // SESSION_REDIRECT is not in the application's allow-list: only the session's state makes it acceptable.
    const run = await runBrowser(withParams(connection.authorize_url, { redirect_uri: SESSION_REDIRECT }), SESSION_REDIRECT);
    expect(run.url.toString()).toBe(SESSION_REDIRECT);
    expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('callable');

    // `/credentials` is for API keys only.
    const refused = await fetch(`${h.coffer.url}/vault/connections/crm/${svc}/credentials`, { headers: { authorization: `Bearer ${jwt}` } });
    await expectErrorEnvelope(refused, 403, 'ForbiddenError');
    const allowed = await credentials(h.coffer, consumer, 'crm', svc);
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.body.data.access_token).toEqual(expect.any(String));
  });

  it('`/credentials` returns the access token only, never the refresh token', async () => {
    const consumer = 'flow-creds';
    await authorize(h, consumer, svc);
    const res = await credentials(h.coffer, consumer, 'crm', svc);
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.access_token).toEqual(expect.any(String));
    expect(res.body.data).not.toHaveProperty('refresh_token');
    expect(res.body.data.expires_in).toBeGreaterThan(3000);
    const issued = h.grants.find((g) => g.accessToken === res.body.data.access_token);
    expect(issued?.refreshToken).toEqual(expect.any(String));
    expect(res.text).not.toContain(issued!.refreshToken!);
    expect(res.text).not.toMatch(/refresh_token/);
  });

  it('nonce flow: fragment with confirm_token, pending until confirmed, single-use, bound to the consumer', async () => {
    const alice = 'flow-nonce-alice';
    const bob = 'flow-nonce-bob';
    const aliceRun = await authorize(h, alice, svc, 'crm', { nonce: 'abc' });
    const aliceUrl = aliceRun.url;
    expect(aliceUrl.origin + aliceUrl.pathname).toBe(APP_REDIRECT);
    const fragment = new URLSearchParams(aliceUrl.hash.slice(1));
    expect([...fragment.keys()].sort()).toEqual(['confirm_token', 'nonce', 'service_id']);
    expect(aliceUrl.hash).toMatch(/^#nonce=abc&confirm_token=[^&]+&service_id=/);
    expect(fragment.get('nonce')).toBe('abc');
    expect(fragment.get('service_id')).toBe(svc);
    const aliceToken = fragment.get('confirm_token')!;

    const bobRun = await authorize(h, bob, svc, 'crm', { nonce: 'xyz' });
    const bobToken = new URLSearchParams(bobRun.url.hash.slice(1)).get('confirm_token')!;
    expect(bobToken).toEqual(expect.any(String));

    const pending = await getConnection(h.coffer, alice, 'crm', svc);
    expect(pending.state).not.toBe('callable');
    expect(pending.health).toBe('pending_confirmation');
    const early = await credentials(h.coffer, alice, 'crm', svc);
    expect(early.status).toBe(422);
    expect((await outbox(h.coffer, { consumer: alice })).map((e) => e.event_type)).toEqual(['vault.connection.created', 'vault.connection.updated']);

    // Bob's token does not confirm Alice's connection (and is not used up by trying).
    const crossed = await api(h.coffer, alice, 'POST', `/vault/connections/crm/${svc}/confirm`, { confirm_token: bobToken });
    expect(crossed.status, crossed.text).toBe(400);
    expect((await getConnection(h.coffer, alice, 'crm', svc)).health).toBe('pending_confirmation');

    const confirmed = await api(h.coffer, alice, 'POST', `/vault/connections/crm/${svc}/confirm`, { confirm_token: aliceToken });
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(confirmed.body.data).toEqual({ confirmed: true });
    expect((await getConnection(h.coffer, alice, 'crm', svc)).state).toBe('callable');
    expect((await outbox(h.coffer, { consumer: alice })).map((e) => e.event_type)).toEqual([
      'vault.connection.created',
      'vault.connection.updated',
      'vault.connection.updated',
      'vault.connection.callable',
    ]);

    const again = await api(h.coffer, alice, 'POST', `/vault/connections/crm/${svc}/confirm`, { confirm_token: aliceToken });
    expect(again.status, again.text).toBe(400);

    expect((await getConnection(h.coffer, bob, 'crm', svc)).health).toBe('pending_confirmation');
    const bobConfirmed = await api(h.coffer, bob, 'POST', `/vault/connections/crm/${svc}/confirm`, { confirm_token: bobToken });
    expect(bobConfirmed.status, bobConfirmed.text).toBe(200);
  });

  it('client_credentials: the token grant makes the connection callable; the token shows only in /credentials', async () => {
    const consumer = 'flow-cc';
    const saved = await api(h.coffer, consumer, 'POST', `/vault/connections/hris/${cc}`, {
      settings: { client_id: h.provider.clientId, client_secret: h.provider.clientSecret },
    });
    expect(saved.status, saved.text).toBe(200);
    expect(saved.body.data.state).not.toBe('callable');

    const before = h.provider.tokenRequests.client_credentials ?? 0;
    const granted = await api(h.coffer, consumer, 'POST', `/vault/connections/hris/${cc}/token`);
    expect(granted.status, granted.text).toBe(200);
    expect(granted.body.data.state).toBe('callable');
    expect(h.provider.tokenRequests.client_credentials).toBe(before + 1);

    const creds = await credentials(h.coffer, consumer, 'hris', cc);
    expect(creds.status, creds.text).toBe(200);
    const token = creds.body.data.access_token as string;
    expect(h.grants.some((g) => g.grantType === 'client_credentials' && g.accessToken === token)).toBe(true);
    // Usable: the provider still holds it as a valid client-credentials token of this client.
    const atProvider = await h.provider.provider.ClientCredentials.find(token);
    expect(atProvider?.clientId).toBe(h.provider.clientId);
    expect(atProvider?.isValid).toBe(true);

    expect(granted.text).not.toContain(token);
    const gets = [
      `/vault/connections/hris/${cc}`,
      '/vault/connections',
      '/vault/connections?api=hris',
      `/vault/connections/hris/${cc}/consent`,
      '/vault/consumers',
      `/vault/consumers/${consumer}`,
      '/vault/logs',
    ];
    for (const path of gets) {
      const res = await api(h.coffer, consumer, 'GET', path);
      expect(res.status, `${path} ${res.text}`).toBe(200);
      expect(res.text, path).not.toContain(token);
      expect(res.text, path).not.toContain(h.provider.clientSecret);
    }
    for (const event of await outbox(h.coffer, { consumer })) expect(event.raw).not.toContain(token);
  });
});
