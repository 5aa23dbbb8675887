// OAuth setups get their tokens through oauth4webapi from a real authorization server (oidc-provider): at create and
// update, and again in the background before they expire. Refusals are 400s that store nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTokens } from '../../src/flows/connection-secrets.js';
import { findFlowsConnection } from '../../src/store/flows-connections.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectAuth0Error, flowsCall, managementToken } from '../support/flows.js';
import { startProvider, type TestProvider } from '../support/oidc.js';

const TRUSTING_LOCAL_PROVIDERS = { COFFER_ALLOW_INSECURE_PROVIDERS: 'true', COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true' };

async function storedTokens(coffer: TestCoffer, id: string) {
  const row = await findFlowsConnection(coffer.runtime.ctx.db, coffer.appId, id);
  return openTokens(coffer.runtime.ctx.keyring, row!);
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(backends)('Flows Vault OAuth setups (%s)', (backend) => {
  let provider: TestProvider;
  let coffer: TestCoffer;
  let token: string;
  const clientCredentials = (overrides: Record<string, string> = {}) => ({
    type: 'OAUTH_CLIENT_CREDENTIALS',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
    token_endpoint: `${provider.issuer}/token`,
    scope: 'api',
    ...overrides,
  });
  const count = async () => (await flowsCall(coffer, token, 'GET', '?include_totals=true')).json.total as number;

  beforeAll(async () => {
    provider = await startProvider();
    provider.init(['http://127.0.0.1/unused']);
    coffer = await startCoffer(backend, { ...TRUSTING_LOCAL_PROVIDERS, COFFER_FLOWS_AUTH0_TOKEN_URL: `${provider.issuer}/token`, COFFER_REFRESH_INTERVAL_SECONDS: '0' });
    token = await managementToken(coffer);
  });

  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
  });

  it('HTTP OAUTH_CLIENT_CREDENTIALS: the provider issues a token at create; it is stored sealed and real', async () => {
    const before = provider.tokenRequests.client_credentials ?? 0;
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'partner API', setup: clientCredentials() });
    expect(res.status, res.text).toBe(201);
    expect(provider.tokenRequests.client_credentials).toBe(before + 1);
    expect(Date.parse(res.json.refreshed_at)).toBeGreaterThanOrEqual(Date.parse(res.json.created_at) - 1000);
    const tokens = await storedTokens(coffer, res.json.id);
    expect(tokens).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), scope: 'api' });
    // The provider knows the stored token as one it issued to this client.
    const issued = await provider.provider.ClientCredentials.find(tokens!.access_token);
    expect(issued?.clientId).toBe(provider.clientId);
    expect(res.text).not.toContain(tokens!.access_token);
    expect(res.text).not.toContain(provider.clientSecret);
  });

  it('AUTH0 OAUTH_APP: client_credentials at the tenant token endpoint, audience included', async () => {
    const before = provider.tokenRequests.client_credentials ?? 0;
    const res = await flowsCall(coffer, token, 'POST', '', {
      app_id: 'AUTH0',
      name: 'tenant M2M',
      setup: { type: 'OAUTH_APP', client_id: provider.clientId, client_secret: provider.clientSecret, domain: 'tenant.example.com' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ ready: true, account_name: 'tenant.example.com' });
    expect(provider.tokenRequests.client_credentials).toBe(before + 1);
    expect(typeof res.json.refreshed_at).toBe('string');
    const tokens = await storedTokens(coffer, res.json.id);
    expect((await provider.provider.ClientCredentials.find(tokens!.access_token))?.clientId).toBe(provider.clientId);
  });

  it('a refused client is a 400 naming the provider error; nothing is stored', async () => {
    const before = await count();
    const wrongSecret = 'wrong-secret-' + 'z'.repeat(20);
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'refused', setup: clientCredentials({ client_secret: wrongSecret }) });
    expectAuth0Error(res, 400, 'invalid_body', `Payload validation error: ${new URL(provider.issuer).host} refused the client credentials (invalid_client)`);
    expect(res.text).not.toContain(wrongSecret);
    expect(await count()).toBe(before);
  });

  it('an unreachable token endpoint is a 502; nothing is stored', async () => {
    const before = await count();
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'unreachable', setup: clientCredentials({ token_endpoint: 'http://127.0.0.1:9/token' }) });
    expectAuth0Error(res, 502, 'token_endpoint_unavailable', 'Could not obtain an access token from 127.0.0.1:9');
    expect(await count()).toBe(before);
  });

  it('a rename keeps the token; a new setup obtains a new one', async () => {
    const created = (await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'to update', setup: clientCredentials() })).json;
    const first = await storedTokens(coffer, created.id);
    const requests = provider.tokenRequests.client_credentials;

    const renamed = (await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { name: 'renamed' })).json;
    expect(renamed.refreshed_at).toBe(created.refreshed_at);
    expect(provider.tokenRequests.client_credentials).toBe(requests);
    expect(await storedTokens(coffer, created.id)).toEqual(first);

    const reconfigured = await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { setup: clientCredentials({ scope: 'api' }) });
    expect(reconfigured.status, reconfigured.text).toBe(200);
    expect(provider.tokenRequests.client_credentials).toBe(requests + 1);
    expect(Date.parse(reconfigured.json.refreshed_at)).toBeGreaterThan(Date.parse(created.refreshed_at));
    expect((await storedTokens(coffer, created.id))!.access_token).not.toBe(first!.access_token);

    // A refused new setup leaves the old one and its token in place.
    const refused = await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { setup: clientCredentials({ client_secret: 'not-the-secret' }) });
    expectAuth0Error(refused, 400, 'invalid_body');
    expect((await flowsCall(coffer, token, 'GET', `/${created.id}`)).json).toEqual(reconfigured.json);
  });

  it('the upstream policy applies: plain http and loopback token endpoints are refused unless configured', async () => {
    const strict = await startCoffer(backend);
    const httpOnly = await startCoffer(backend, { COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    try {
      const body = { app_id: 'HTTP', name: 'policy', setup: clientCredentials() };
      const insecure = await flowsCall(strict, await managementToken(strict), 'POST', '', body);
      expectAuth0Error(insecure, 400, 'invalid_body', "Payload validation error: 'setup.token_endpoint' must be an absolute https:// URL");
      const loopback = await flowsCall(httpOnly, await managementToken(httpOnly), 'POST', '', body);
      expectAuth0Error(loopback, 400, 'invalid_body', /private or loopback address/);
      expect((await flowsCall(httpOnly, await managementToken(httpOnly), 'GET')).json).toEqual([]);
    } finally {
      await strict.close();
      await httpOnly.close();
    }
  });
});

describe.each(backends)('Flows Vault background token refresh (%s)', (backend) => {
  let provider: TestProvider;
  let coffer: TestCoffer;

  beforeAll(async () => {
    // Tokens live 2 s, well inside the refresh margin: every pass of the 1 s refresher renews them.
    provider = await startProvider({ accessTokenTtl: 2 });
    provider.init(['http://127.0.0.1/unused']);
    coffer = await startCoffer(backend, { ...TRUSTING_LOCAL_PROVIDERS, COFFER_REFRESH_INTERVAL_SECONDS: '1' });
  });

  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
  });

  it('renews tokens before they expire: refreshed_at moves, fingerprint and updated_at do not', async () => {
    const token = await managementToken(coffer);
    const setup = { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: provider.clientId, client_secret: provider.clientSecret, token_endpoint: `${provider.issuer}/token` };
    const created = (await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'short-lived', setup })).json;
    const first = await storedTokens(coffer, created.id);
    const refreshed = await until(async () => {
      const current = (await flowsCall(coffer, token, 'GET', `/${created.id}`)).json;
      return current.refreshed_at !== created.refreshed_at ? current : undefined;
    });
    expect(Date.parse(refreshed.refreshed_at)).toBeGreaterThan(Date.parse(created.refreshed_at));
    expect(refreshed.fingerprint).toBe(created.fingerprint);
    expect(refreshed.updated_at).toBe(created.updated_at);
    const renewed = await storedTokens(coffer, created.id);
    expect(renewed!.access_token).not.toBe(first!.access_token);
    expect((await provider.provider.ClientCredentials.find(renewed!.access_token))?.clientId).toBe(provider.clientId);
  });
});
