// RFC 9207: a provider whose metadata advertises `authorization_response_iss_parameter_supported` must send `iss`;
// a callback stripped of it is refused before the code is used. Providers without metadata still work without
// `iss` unless their connector file opts in (`iss_parameter_supported: true`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/coffer.js';
import { browserFetch, newCookieJar } from '../support/oidc.js';
import { APP_REDIRECT, authorize, expectErrorPage, getConnection, runToCallback, snapshot, startHarness, type Harness } from '../support/oauth-harness.js';

function without(url: URL, param: string): URL {
  const copy = new URL(url);
  copy.searchParams.delete(param);
  return copy;
}

describe.each(backends)('RFC 9207 iss in authorization responses (%s)', (backend) => {
  const authorizeUrl = async (h: Harness, consumer: string, serviceId: string) => (await getConnection(h.coffer, consumer, 'crm', serviceId)).authorize_url as string;

  /** Delivers `callback` in `browser`; refused with an error page, nothing stored, nothing sent to the token endpoint. */
  async function refused(h: Harness, browser: ReturnType<typeof newCookieJar>, callback: URL): Promise<string> {
    const before = await snapshot(h.coffer);
    const hits = h.provider.tokenEndpointHits;
    const page = await expectErrorPage(await browserFetch(browser, callback), 400, 'invalid_authorization_response');
    expect(h.provider.tokenEndpointHits).toBe(hits);
    expect(await snapshot(h.coffer)).toEqual(before);
    return page;
  }

  describe('a provider whose metadata advertises iss', () => {
    let h: Harness;
    let svc: string;
    beforeAll(async () => {
      h = await startHarness(backend, [{ id: 'iss-meta' }]);
      svc = h.services['iss-meta'];
      const metadata = await (await fetch(`${h.provider.issuer}/.well-known/openid-configuration`)).json();
      expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
      h.provider.discoveryRequests = 0;
    });
    afterAll(async () => {
      await h?.close();
    });

    it('refuses a callback stripped of iss; the same callback with iss completes', async () => {
      const consumer = 'iss-stripped';
      const browser = newCookieJar();
      const callback = await runToCallback(h, browser, await authorizeUrl(h, consumer, svc));
      expect(callback.searchParams.get('iss')).toBe(h.provider.issuer);
      const page = await refused(h, browser, without(callback, 'iss'));
      expect(page).toMatch(/iss\b.*missing/);
      expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('available');

      // With iss, a fresh flow completes; Coffer read the metadata once for all these callbacks.
      await authorize(h, 'iss-kept', svc);
      await authorize(h, 'iss-kept-again', svc);
      expect((await getConnection(h.coffer, 'iss-kept', 'crm', svc)).state).toBe('callable');
      expect(h.provider.discoveryRequests).toBe(1);
    });
  });

  describe('a provider without metadata', () => {
    let h: Harness;
    let plain: string;
    let optIn: string;
    beforeAll(async () => {
      h = await startHarness(backend, [{ id: 'iss-nometa' }, { id: 'iss-optin', issParameterSupported: true }], {}, {}, { discovery: false });
      plain = h.services['iss-nometa'];
      optIn = h.services['iss-optin'];
    });
    afterAll(async () => {
      await h?.close();
    });

    it('completes a callback without iss', async () => {
      const consumer = 'iss-absent-ok';
      const browser = newCookieJar();
      const callback = await runToCallback(h, browser, await authorizeUrl(h, consumer, plain));
      const hits = h.provider.tokenEndpointHits;
      const res = await browserFetch(browser, without(callback, 'iss'));
      expect(res.status, await res.text()).toBe(301);
      expect(res.headers.get('location')).toBe(APP_REDIRECT);
      expect(h.provider.tokenEndpointHits).toBe(hits + 1);
      expect(h.provider.discoveryRequests).toBeGreaterThan(0);
      expect((await getConnection(h.coffer, consumer, 'crm', plain)).state).toBe('callable');
    });

    it('still refuses a wrong iss', async () => {
      const consumer = 'iss-wrong';
      const browser = newCookieJar();
      const callback = await runToCallback(h, browser, await authorizeUrl(h, consumer, plain));
      callback.searchParams.set('iss', 'https://evil.example');
      await refused(h, browser, callback);
      expect((await getConnection(h.coffer, consumer, 'crm', plain)).state).toBe('available');
    });

    it('refuses a callback without iss when the connector file opts in (iss_parameter_supported: true)', async () => {
      const consumer = 'iss-optin';
      const browser = newCookieJar();
      const callback = await runToCallback(h, browser, await authorizeUrl(h, consumer, optIn));
      await refused(h, browser, without(callback, 'iss'));
      expect((await getConnection(h.coffer, consumer, 'crm', optIn)).state).toBe('available');
    });
  });
});
