import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { followRedirects, startProvider, tempDir, type TestProvider } from '../support/oidc.js';

const APP_REDIRECT = 'https://app.example/oauth/done';

describe.each(backends)('OAuth authorization-code flow (%s)', (backend) => {
  let provider: TestProvider;
  let coffer: TestCoffer;
  let serviceId: string;

  beforeAll(async () => {
    provider = await startProvider();
    const dir = tempDir('coffer-connectors-');
    serviceId = provider.writeConnector(dir);
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    provider.init([`${coffer.url}/vault/callback`]);
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, serviceId, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
  });

  it('authorizes, stores tokens, makes the connection callable and refreshes with rotation', async () => {
    const headers = coffer.headers('alice');
    const before = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}`, { headers })).json();
    expect(before.data.state).toBe('available');
    const authorizeUrl = `${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`;
    const result = await followRedirects(authorizeUrl, (url) => url.origin === 'https://app.example');
    expect(result.url.toString()).toBe(APP_REDIRECT);
    const after = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}`, { headers })).json();
    expect(after.data.state).toBe('callable');
    const creds = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
    expect(creds.data.access_token).toEqual(expect.any(String));
    // validate forces a refresh: a new access token, the rotated refresh token stored.
    const validated = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}/validate`, { method: 'POST', headers })).json();
    expect(validated.data.state).toBe('callable');
    const creds2 = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
    expect(creds2.data.access_token).not.toBe(creds.data.access_token);
    expect(provider.tokenRequests.refresh_token).toBe(1);
  });
});
