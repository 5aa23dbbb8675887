// Hostile browser requests: each is refused with an HTML page (no redirect anywhere) and leaves nothing behind.
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRedirectUris } from '../../src/vault/applications.js';
import { AUTHORIZE_STATE_AUDIENCE } from '../../src/vault/authorize-state.js';
import { backends } from '../support/coffer.js';
import { browserFetch, followRedirects, newCookieJar } from '../support/oidc.js';
import {
  api,
  APP_REDIRECT,
  authorize,
  credentials,
  expectErrorPage,
  fetchManual,
  getConnection,
  snapshot,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

/** One character changed in the middle of a JWT's signature (the last one may only carry padding bits). */
function flipSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const i = Math.floor(signature.length / 2);
  return `${header}.${payload}.${signature.slice(0, i)}${signature[i] === 'A' ? 'B' : 'A'}${signature.slice(i + 1)}`;
}

describe.each(backends)('OAuth attacks are refused and store nothing (%s)', (backend) => {
  let h: Harness;
  let svc: string;
  let evil: string;
  let byo: string;
  let appB: string;

  beforeAll(async () => {
    h = await startHarness(backend, [
      { id: 'atk-oidc' },
      // Another issuer, on a closed loopback port: its metadata cannot be read (and tests never reach the internet).
      { id: 'atk-evil-iss', issuer: 'http://127.0.0.1:9' },
      { id: 'atk-byo', consumerClient: true, appClient: false },
    ]);
    svc = h.services['atk-oidc'];
    evil = h.services['atk-evil-iss'];
    byo = h.services['atk-byo'];
    appB = (await h.coffer.createApp()).application_id;
    await setRedirectUris(h.coffer.runtime.ctx, appB, [APP_REDIRECT]);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Runs `attack` and checks that connections, outbox and confirm tokens are exactly as before. */
  async function storesNothing(attack: () => Promise<void>): Promise<void> {
    const before = await snapshot(h.coffer);
    await attack();
    expect(await snapshot(h.coffer)).toEqual(before);
  }

  const authorizeUrl = async (consumer: string, serviceId = svc) => (await getConnection(h.coffer, consumer, 'crm', serviceId)).authorize_url as string;

  async function signState(claims: Record<string, unknown>, expiresAt: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(AUTHORIZE_STATE_AUDIENCE)
      .setJti(crypto.randomBytes(12).toString('base64url'))
      .setIssuedAt(Math.min(now, expiresAt - 60))
      .setExpirationTime(expiresAt)
      .sign(h.coffer.runtime.ctx.keyring.sessionSigningKey);
  }

  it('a tampered state', async () => {
    const url = new URL(withParams(await authorizeUrl('atk-tamper'), { redirect_uri: APP_REDIRECT }));
    const state = url.searchParams.get('state')!;
    const [header, payload, signature] = state.split('.');
    url.searchParams.set('state', flipSignature(state));
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(url.toString()), 400, 'invalid_state');
    });
    // A changed claim under the original signature fails the same way.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, con: 'atk-victim' })).toString('base64url');
    url.searchParams.set('state', `${header}.${forged}.${signature}`);
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(url.toString()), 400, 'invalid_state');
    });
    // A session JWT is signed with the same key but for another audience: not a state.
    const session = await api(h.coffer, 'atk-tamper', 'POST', '/vault/sessions', {});
    expect(session.status, session.text).toBe(200);
    url.searchParams.set('state', session.body.data.session_token);
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(url.toString()), 400, 'invalid_state');
    });
  });

  it('a replayed state (the same authorize_url twice)', async () => {
    const url = withParams(await authorizeUrl('atk-replay'), { redirect_uri: APP_REDIRECT });
    await storesNothing(async () => {
      const first = await fetchManual(url);
      expect(first.status).toBe(301);
      expect(new URL(first.headers.get('location')!).origin).toBe(h.provider.issuer);
      await first.arrayBuffer();
      await expectErrorPage(await fetchManual(url), 400, 'state_used');
    });
  });

  it('an expired state, though correctly signed', async () => {
    const claims = { use: 'authorize', app: h.coffer.appId, con: 'atk-expired', svc, api: 'crm' };
    const path = `${h.coffer.url}/vault/authorize/${svc}/${h.coffer.appId}`;
    const expired = await signState(claims, Math.floor(Date.now() / 1000) - 60);
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(withParams(`${path}?state=${encodeURIComponent(expired)}`, { redirect_uri: APP_REDIRECT })), 400, 'invalid_state');
    });
    // The same claims, unexpired, are accepted: the refusal above is the expiry alone.
    const live = await signState(claims, Math.floor(Date.now() / 1000) + 600);
    const ok = await fetchManual(withParams(`${path}?state=${encodeURIComponent(live)}`, { redirect_uri: APP_REDIRECT }));
    expect(ok.status, await ok.text()).toBe(301);
  });

  it("application A's state on application B's authorize path", async () => {
    const url = withParams(await authorizeUrl('atk-cross'), { redirect_uri: APP_REDIRECT });
    const onB = url.replace(`/vault/authorize/${svc}/${h.coffer.appId}?`, `/vault/authorize/${svc}/${appB}?`);
    expect(onB).not.toBe(url);
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(onB), 400, 'invalid_state');
    });
    // Nor on another connector of application A.
    const onOther = url.replace(`/vault/authorize/${svc}/`, `/vault/authorize/${evil}/`);
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(onOther), 400, 'invalid_state');
    });
  });

  it('a redirect_uri outside the allow-list is refused and never redirected to', async () => {
    const base = await authorizeUrl('atk-redirect');
    for (const target of [
      'https://evil.example/steal',
      `${APP_REDIRECT}/../../steal`,
      `${APP_REDIRECT}?next=https://evil.example`,
      'https://app.example.evil.example/oauth/done',
      'https://app.example/oauth/done.evil',
    ]) {
      await storesNothing(async () => {
        const body = await expectErrorPage(await fetchManual(withParams(base, { redirect_uri: target })), 400, 'redirect_uri_not_allowed');
        expect(body).not.toContain(target);
      });
    }
    // Missing redirect_uri: refused too.
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(base), 400, 'missing_redirect_uri');
    });
  });

  it('a replayed callback (the authorization code used twice)', async () => {
    const consumer = 'atk-code';
    const run = await authorize(h, consumer, svc);
    const callback = run.hops.find((hop) => hop.startsWith(`${h.coffer.url}/vault/callback?`));
    expect(callback).toMatch(/[?&]code=/);
    const connected = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(connected.state).toBe('callable');
    const tokenRequests = h.provider.tokenRequests.authorization_code;
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(callback!), 400, 'invalid_state');
    });
    expect(h.provider.tokenRequests.authorization_code).toBe(tokenRequests);
    // The view is unchanged too (apart from the freshly signed URLs every GET carries).
    const { authorize_url: _a, revoke_url: _r, ...before } = connected;
    const { authorize_url: _a2, revoke_url: _r2, ...after } = await getConnection(h.coffer, consumer, 'crm', svc);
    expect(after).toEqual(before);
  });

  it('revoke_url with a foreign redirect_uri or a tampered state revokes nothing', async () => {
    const consumer = 'atk-revoke';
    await authorize(h, consumer, svc);
    const revokeUrl = (await getConnection(h.coffer, consumer, 'crm', svc)).revoke_url as string;
    expect(revokeUrl).toEqual(expect.any(String));
    const accessToken = (await credentials(h.coffer, consumer, 'crm', svc)).body.data.access_token as string;
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(withParams(revokeUrl, { redirect_uri: 'https://evil.example/steal' })), 400, 'redirect_uri_not_allowed');
      const tampered = new URL(revokeUrl);
      tampered.searchParams.set('state', flipSignature(tampered.searchParams.get('state')!));
      await expectErrorPage(await fetchManual(withParams(tampered.toString(), { redirect_uri: APP_REDIRECT })), 400, 'invalid_state');
    });
    // Still connected, and the provider still honours the token.
    expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('callable');
    expect((await h.provider.provider.AccessToken.find(accessToken))?.isValid).toBe(true);
  });

  it('an authorization response from another issuer (RFC 9207 iss mismatch)', async () => {
    const url = withParams(await authorizeUrl('atk-iss', evil), { redirect_uri: APP_REDIRECT });
    await storesNothing(async () => {
      const browser = newCookieJar();
      const trip = await followRedirects(url, (u) => u.toString().startsWith(`${h.coffer.url}/vault/callback?`), 20, browser);
      expect(trip.url.searchParams.get('iss')).toBe(h.provider.issuer);
      expect(trip.url.searchParams.get('code')).toEqual(expect.any(String));
      const tokenRequests = h.provider.tokenRequests.authorization_code ?? 0;
      await expectErrorPage(await browserFetch(browser, trip.url.toString()), 400, 'invalid_authorization_response');
      expect(h.provider.tokenRequests.authorization_code ?? 0).toBe(tokenRequests);
    });
    expect((await getConnection(h.coffer, 'atk-iss', 'crm', evil)).state).toBe('available');
  });

  it('a callback with an unknown or missing state', async () => {
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(`${h.coffer.url}/vault/callback?state=${crypto.randomBytes(32).toString('base64url')}&code=abc`), 400, 'invalid_state');
      await expectErrorPage(await fetchManual(`${h.coffer.url}/vault/callback?code=abc`), 400, 'missing_state');
      await expectErrorPage(await fetchManual(`${h.coffer.url}/vault/callback?error=access_denied&state=unknown`), 400, 'invalid_state');
    });
  });

  it('settings_required_for_authorization missing', async () => {
    const consumer = 'atk-byo';
    const url = withParams(await authorizeUrl(consumer, byo), { redirect_uri: APP_REDIRECT });
    await storesNothing(async () => {
      await expectErrorPage(await fetchManual(url), 422, 'missing_settings');
    });
    expect((await getConnection(h.coffer, consumer, 'crm', byo)).state).toBe('available');
  });
});
