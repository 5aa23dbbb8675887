// Login CSRF: an OAuth flow completes only in the browser that started it. A callback URL delivered to another
// browser (no cookie, another flow's cookie, a forged one) is refused before the code is used, and the starting
// browser can still complete it. Connectors and sessions may opt out explicitly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/coffer.js';
import { expectErrorEnvelope } from '../support/envelope.js';
import { browserFetch, newCookieJar, type CookieJar } from '../support/oidc.js';
import {
  api,
  APP_REDIRECT,
  expectErrorPage,
  getConnection,
  runToCallback,
  snapshot,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

const cookieNames = (jar: CookieJar, url: string) => [...(jar.get(new URL(url).host)?.keys() ?? [])].filter((n) => n.startsWith('coffer_oauth_'));

describe.each(backends)('OAuth flows are bound to the browser that started them (%s)', (backend) => {
  let h: Harness;
  let svc: string;
  let unbound: string;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'bind-oidc' }, { id: 'bind-off', browserBinding: false }]);
    svc = h.services['bind-oidc'];
    unbound = h.services['bind-off'];
  });
  afterAll(async () => {
    await h?.close();
  });

  const authorizeUrl = async (consumer: string, serviceId = svc) => (await getConnection(h.coffer, consumer, 'crm', serviceId)).authorize_url as string;

  /** Delivers `callback` in `browser` and checks it is refused with nothing stored and nothing sent to the provider. */
  async function refusedIn(browser: CookieJar, callback: URL): Promise<void> {
    const before = await snapshot(h.coffer);
    const hits = h.provider.tokenEndpointHits;
    await expectErrorPage(await browserFetch(browser, callback), 403, 'browser_mismatch');
    expect(h.provider.tokenEndpointHits).toBe(hits);
    expect(await snapshot(h.coffer)).toEqual(before);
  }

  it('sets a short-lived HttpOnly SameSite=Lax cookie for the callback path only', async () => {
    const browser = newCookieJar();
    const res = await browserFetch(browser, withParams(await authorizeUrl('bind-cookie'), { redirect_uri: APP_REDIRECT }));
    expect(res.status).toBe(301);
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    const [pair, ...attributes] = cookies[0].split(';').map((part) => part.trim());
    expect(pair).toMatch(/^coffer_oauth_[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43}$/);
    expect(attributes.sort()).toEqual(['HttpOnly', 'Max-Age=600', 'Path=/vault/callback', 'SameSite=Lax']);
  });

  it("a callback delivered to another browser is refused before the code is used; the starting browser completes it", async () => {
    const victim = 'bind-victim';
    const browserA = newCookieJar();
    const callback = await runToCallback(h, browserA, await authorizeUrl(victim));
    expect(cookieNames(browserA, h.coffer.url)).toHaveLength(1);

    // Browser B: no cookie at all.
    await refusedIn(newCookieJar(), callback);
    // Browser C: the cookie of a flow it started itself (the attacker's own, for another consumer).
    const browserC = newCookieJar();
    await runToCallback(h, browserC, await authorizeUrl('bind-attacker'));
    expect(cookieNames(browserC, h.coffer.url)).toHaveLength(1);
    await refusedIn(browserC, callback);
    // Browser D: the right cookie name with a made-up value.
    const browserD = newCookieJar();
    const [name] = cookieNames(browserA, h.coffer.url);
    browserD.set(new URL(h.coffer.url).host, new Map([[name, 'A'.repeat(43)]]));
    await refusedIn(browserD, callback);
    expect((await getConnection(h.coffer, victim, 'crm', svc)).state).toBe('available');

    // Browser A, which started the flow, still completes it, and its cookie is cleared.
    const hits = h.provider.tokenEndpointHits;
    const done = await browserFetch(browserA, callback);
    expect(done.status, await done.text()).toBe(301);
    expect(done.headers.get('location')).toBe(APP_REDIRECT);
    expect(done.headers.getSetCookie().join('\n')).toMatch(new RegExp(`^${name}=; Max-Age=0; Path=/vault/callback`));
    expect(cookieNames(browserA, h.coffer.url)).toEqual([]);
    expect(h.provider.tokenEndpointHits).toBe(hits + 1);
    expect((await getConnection(h.coffer, victim, 'crm', svc)).state).toBe('callable');
    // The attacker's own flow was never completed either.
    expect((await getConnection(h.coffer, 'bind-attacker', 'crm', svc)).state).toBe('available');
  });

  it('two flows started in two tabs of one browser both complete', async () => {
    const browser = newCookieJar();
    const first = await runToCallback(h, browser, await authorizeUrl('bind-tab-1'));
    const second = await runToCallback(h, browser, await authorizeUrl('bind-tab-2'));
    expect(cookieNames(browser, h.coffer.url)).toHaveLength(2);
    for (const callback of [second, first]) {
      const res = await browserFetch(browser, callback);
      expect(res.status, await res.text()).toBe(301);
    }
    for (const consumer of ['bind-tab-1', 'bind-tab-2']) expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('callable');
  });

  it('a connector file with oauth.browser_binding: false completes in another browser', async () => {
    const consumer = 'bind-connector-optout';
    const browserA = newCookieJar();
    const callback = await runToCallback(h, browserA, await authorizeUrl(consumer, unbound));
    expect(cookieNames(browserA, h.coffer.url)).toEqual([]);
    const res = await browserFetch(newCookieJar(), callback);
    expect(res.status, await res.text()).toBe(301);
    expect((await getConnection(h.coffer, consumer, 'crm', unbound)).state).toBe('callable');
  });

  it("a session with settings.oauth_browser_binding: false opts its flows out; other sessions' flows stay bound", async () => {
    const sessionAuthorizeUrl = async (consumer: string, settings: Record<string, unknown>) => {
      const created = await api(h.coffer, consumer, 'POST', '/vault/sessions', { settings });
      expect(created.status, created.text).toBe(200);
      const res = await fetch(`${h.coffer.url}/vault/connections/crm/${svc}`, { headers: { authorization: `Bearer ${created.body.data.session_token}` } });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      return body.data.authorize_url as string;
    };

    const optedOut = 'bind-session-optout';
    const browserA = newCookieJar();
    const callback = await runToCallback(h, browserA, await sessionAuthorizeUrl(optedOut, { oauth_browser_binding: false }));
    expect(cookieNames(browserA, h.coffer.url)).toEqual([]);
    const res = await browserFetch(newCookieJar(), callback);
    expect(res.status, await res.text()).toBe(301);
    expect((await getConnection(h.coffer, optedOut, 'crm', svc)).state).toBe('callable');

    const bound = 'bind-session-default';
    const boundCallback = await runToCallback(h, newCookieJar(), await sessionAuthorizeUrl(bound, { oauth_browser_binding: true }));
    await refusedIn(newCookieJar(), boundCallback);
    expect((await getConnection(h.coffer, bound, 'crm', svc)).state).toBe('available');

    const invalid = await fetch(`${h.coffer.url}/vault/sessions`, {
      method: 'POST',
      headers: { ...h.coffer.headers('bind-session-bad'), 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { oauth_browser_binding: 'no' } }),
    });
    await expectErrorEnvelope(invalid, 400, 'RequestValidationError');
  });
});

describe('the binding cookie behind an https public URL with a path', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('sqlite', [{ id: 'bind-https' }], { COFFER_PUBLIC_URL: 'https://vault.example/coffer' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('is Secure and scoped to the public callback path', async () => {
    const authorizeUrl = new URL((await getConnection(h.coffer, 'bind-https', 'crm', h.services['bind-https'])).authorize_url);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(`https://vault.example/coffer/vault/authorize/bind-https/${h.coffer.appId}`);
    // What the reverse proxy in front of Coffer would forward.
    const forwarded = `${h.coffer.url}${authorizeUrl.pathname.slice('/coffer'.length)}${authorizeUrl.search}`;
    const res = await browserFetch(newCookieJar(), withParams(forwarded, { redirect_uri: APP_REDIRECT }));
    expect(res.status, await res.text()).toBe(301);
    const [cookie] = res.headers.getSetCookie();
    expect(cookie.split(';').slice(1).map((part) => part.trim()).sort()).toEqual(['HttpOnly', 'Max-Age=600', 'Path=/coffer/vault/callback', 'SameSite=Lax', 'Secure']);
  });
});
