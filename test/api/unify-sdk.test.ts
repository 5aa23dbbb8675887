// Drives every Vault operation the official `@apideck/unify` SDK exposes against a real Coffer, on every backend, and
// checks the data the SDK hands back (after its own zod validation of the response shape). OAuth token grants and
// refreshes go to a real OAuth server on 127.0.0.1 (test/support/oidc.ts), never to a vendor.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Apideck } from '@apideck/unify';
import { HTTPClient } from '@apideck/unify/lib/http.js';
import { BadRequestResponse, ConflictResponse, NotFoundResponse, UnprocessableResponse } from '@apideck/unify/models/errors/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { followRedirects, LOCAL_PROVIDER_ENV, startProvider, type TestProvider } from '../support/oidc.js';

const MASK = '********';
const PIPEDRIVE_KEY = 'pd-plaintext-api-key-3f9a1c';
const PERSONIO_SECRET = 'personio-plaintext-secret-77b2';
const SF_ACCESS_TOKEN = 'sf-plaintext-access-token-0c41';
const LEGACY_KEY = 'legacy-plaintext-key-a81d';
/** client_credentials against the test provider; the consumer brings the OAuth client as settings. */
const CC_SERVICE = 'test-cc';
/** authorization_code against the test provider, with the application's OAuth client. */
const CODE_SERVICE = 'test-oidc';
const APP_REDIRECT = 'https://app.example/oauth/done';

// Two tiny apiKey connectors: `sdk-legacy-crm` may be migrated to `sdk-modern-crm`.
const TEST_CONNECTORS: Record<string, string> = {
  'sdk-legacy-crm.yaml': `id: sdk-legacy-crm
name: Legacy CRM (test)
website: https://legacy.example.com
unified_apis: [crm]
auth_type: apiKey
form_fields:
  - { id: api_key, label: API key, type: password, required: true, sensitive: true }
  - { id: region, label: Region, type: text }
migration_targets: [sdk-modern-crm]
`,
  'sdk-modern-crm.yaml': `id: sdk-modern-crm
name: Modern CRM (test)
website: https://modern.example.com
unified_apis: [crm]
auth_type: apiKey
form_fields:
  - { id: api_key, label: API key, type: password, required: true, sensitive: true }
  - { id: region, label: Region, type: text }
`,
};

/** Resolves with the rejection of `promise` (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to be rejected');
}

function decodeJwtPayload(token: string): Record<string, any> {
  const parts = token.split('.');
  expect(parts).toHaveLength(3);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

describe.each(backends)('@apideck/unify SDK against Coffer (%s)', (backend) => {
  let coffer: TestCoffer;
  let provider: TestProvider;
  let connectorsDir: string;
  /** Every raw response body the SDK received, to prove secrets never leave the server and to read fields the SDK drops. */
  const bodies: Array<{ url: string; status: number; text: Promise<string> }> = [];
  const sdk = (consumerId?: string) => {
    const httpClient = new HTTPClient();
    httpClient.addHook('response', (res, req) => {
      bodies.push({ url: req.url, status: res.status, text: res.clone().text() });
    });
    return new Apideck({
      serverURL: coffer.url,
      apiKey: coffer.apiKey,
      appId: coffer.appId,
      ...(consumerId ? { consumerId } : {}),
      retryConfig: { strategy: 'none' },
      httpClient,
    });
  };
  const lastBody = async (urlPart: string) => {
    const hit = [...bodies].reverse().find((b) => b.url.includes(urlPart));
    expect(hit, `a response for ${urlPart}`).toBeDefined();
    return JSON.parse(await hit!.text);
  };
  const allBodies = async () => (await Promise.all(bodies.map((b) => b.text))).join('\n');
  /** The access token Coffer holds for a connection (`GET …/credentials`, API keys only; not through the SDK). */
  const accessToken = async (consumerId: string, unifiedApi: string, serviceId: string): Promise<string> => {
    const res = await fetch(`${coffer.url}/vault/connections/${unifiedApi}/${serviceId}/credentials`, { headers: coffer.headers(consumerId) });
    expect(res.status).toBe(200);
    const token = (await res.json()).data.access_token;
    expect(token).toEqual(expect.any(String));
    return token;
  };

  const alice = 'sdk-alice';
  const bob = 'sdk-bob';

  beforeAll(async () => {
    provider = await startProvider();
    connectorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-sdk-connectors-'));
    for (const [name, text] of Object.entries(TEST_CONNECTORS)) fs.writeFileSync(path.join(connectorsDir, name), text);
    provider.writeConnector(connectorsDir, { id: CC_SERVICE, grantType: 'client_credentials', consumerClient: true, unifiedApis: ['hris'] });
    provider.writeConnector(connectorsDir, { id: CODE_SERVICE });
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: connectorsDir, ...LOCAL_PROVIDER_ENV });
    provider.init([`${coffer.url}/vault/callback`]);
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, CODE_SERVICE, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    fs.rmSync(connectorsDir, { recursive: true, force: true });
  });

  it('consumers: create, get, update, list with cursor paging and filters', async () => {
    const apideck = sdk();
    const pagerIds = ['sdk-pager-1', 'sdk-pager-2', 'sdk-pager-3', 'sdk-pager-4', 'sdk-pager-5'];
    for (const [i, consumerId] of pagerIds.entries()) {
      const res = await apideck.vault.consumers.create({
        createConsumerRequest: { consumerId, metadata: { accountName: `Pager Account ${i + 1}`, email: `pager${i + 1}@example.com` } },
      });
      expect(res.httpMeta.response.status).toBe(200);
      expect(res.createConsumerResponse?.statusCode).toBe(200);
      expect(res.createConsumerResponse?.data).toMatchObject({
        consumerId,
        applicationId: coffer.appId,
        metadata: { accountName: `Pager Account ${i + 1}`, email: `pager${i + 1}@example.com` },
        connections: [],
        services: [],
        aggregatedRequestCount: 0,
        requestCounts: { unify: 0, proxy: 0, vault: 0 },
      });
      expect(Date.parse(res.createConsumerResponse!.data.created!)).not.toBeNaN();
    }
    const created = await apideck.vault.consumers.create({
      createConsumerRequest: { consumerId: alice, metadata: { accountName: 'Alice Corp', userName: 'Alice', email: 'alice@example.com' } },
    });
    expect(created.createConsumerResponse?.data.consumerId).toBe(alice);

    // get
    const got = await apideck.vault.consumers.get({ consumerId: alice });
    expect(got.getConsumerResponse?.data).toMatchObject({
      consumerId: alice,
      applicationId: coffer.appId,
      metadata: { accountName: 'Alice Corp', userName: 'Alice', email: 'alice@example.com' },
      connections: [],
      services: [],
    });

    // update merges metadata
    const updated = await apideck.vault.consumers.update({
      consumerId: alice,
      updateConsumerRequest: { metadata: { image: 'https://example.com/alice.png', accountName: 'Alice Corporation' } },
    });
    expect(updated.updateConsumerResponse?.data).toMatchObject({
      consumerId: alice,
      metadata: { accountName: 'Alice Corporation', userName: 'Alice', email: 'alice@example.com', image: 'https://example.com/alice.png' },
    });
    expect((await apideck.vault.consumers.get({ consumerId: alice })).getConsumerResponse?.data.metadata?.accountName).toBe('Alice Corporation');

    // update/get of an unknown consumer
    const missing = await rejection(apideck.vault.consumers.get({ consumerId: 'sdk-nobody' }));
    expect(missing).toBeInstanceOf(NotFoundResponse);
    expect(missing.statusCode).toBe(404);
    expect(missing.typeName).toBe('EntityNotFoundError');

    // cursor paging: prefix filter, limit 2 → pages of 2, 2, 1
    const pages: Array<{ ids: string[]; next: string | null | undefined; itemsOnPage: number | undefined }> = [];
    const iterator = await apideck.vault.consumers.list({ filter: { consumerId: 'sdk-pager-' }, limit: 2 });
    for await (const page of iterator) {
      const body = page.getConsumersResponse!;
      expect(body.statusCode).toBe(200);
      pages.push({ ids: body.data.map((c) => c.consumerId!), next: body.meta?.cursors?.next, itemsOnPage: body.meta?.itemsOnPage });
      expect(body.links?.current).toContain('/vault/consumers');
      if (body.meta?.cursors?.next) expect(body.links?.next).toContain(`cursor=${encodeURIComponent(body.meta.cursors.next)}`);
      else expect(body.links?.next).toBeNull();
    }
    expect(pages.map((p) => p.ids)).toEqual([pagerIds.slice(0, 2), pagerIds.slice(2, 4), pagerIds.slice(4)]);
    expect(pages.map((p) => p.itemsOnPage)).toEqual([2, 2, 1]);
    expect(pages[0].next).toEqual(expect.any(String));
    expect(pages[1].next).toEqual(expect.any(String));
    expect(pages[2].next).toBeNull();

    // list items carry the consumer fields (but no connections array)
    const first = (await apideck.vault.consumers.list({ filter: { consumerId: 'sdk-pager-1' } })).getConsumersResponse!;
    expect(first.data).toEqual([
      expect.objectContaining({
        consumerId: 'sdk-pager-1',
        applicationId: coffer.appId,
        metadata: { accountName: 'Pager Account 1', email: 'pager1@example.com' },
        services: [],
        requestCounts: expect.objectContaining({ vault: expect.any(Number) }),
      }),
    ]);
    expect(first.data[0]).not.toHaveProperty('connections');

    // search: substring over id, email, account name, user name
    const searchIds = async (search: string) => {
      const ids: string[] = [];
      for await (const page of await apideck.vault.consumers.list({ filter: { search }, limit: 200 })) {
        ids.push(...page.getConsumersResponse!.data.map((c) => c.consumerId!));
      }
      return ids;
    };
    expect(await searchIds('pager3@')).toEqual(['sdk-pager-3']);
    expect(await searchIds('alice corporation')).toEqual([alice]);
    expect(await searchIds('Pager Account')).toEqual(pagerIds);
    expect(await searchIds('no-such-consumer-anywhere')).toEqual([]);
  });

  it('pipedrive (apiKey): available → callable after settings; secret masked everywhere', async () => {
    const apideck = sdk(alice);

    const before = await apideck.vault.connections.list({});
    const available = before.getConnectionsResponse!.data.find((c) => c.id === 'crm+pipedrive');
    expect(available).toMatchObject({ serviceId: 'pipedrive', unifiedApi: 'crm', state: 'available', authType: 'apiKey', enabled: false, settings: null });
    expect(available?.createdAt).toBeUndefined();

    const one = await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'pipedrive' });
    expect(one.getConnectionResponse?.data).toMatchObject({ id: 'crm+pipedrive', state: 'available', integrationState: 'configured' });
    expect(one.getConnectionResponse?.data.formFields?.map((f) => f.id)).toEqual(['api_key']);
    expect(one.getConnectionResponse?.data.formFields?.[0]).toMatchObject({ type: 'password', required: true, sensitive: true });

    const t0 = Date.now();
    const res = await apideck.vault.connections.update({ unifiedApi: 'crm', serviceId: 'pipedrive', connection: { settings: { api_key: PIPEDRIVE_KEY } } });
    const conn = res.updateConnectionResponse!.data;
    expect(res.updateConnectionResponse?.statusCode).toBe(200);
    expect(conn).toMatchObject({ id: 'crm+pipedrive', serviceId: 'pipedrive', state: 'callable', health: 'ok', enabled: true, settings: { api_key: MASK } });
    expect(typeof conn.createdAt).toBe('number');
    expect(conn.createdAt).toBeGreaterThanOrEqual(t0 - 5000);
    expect(conn.createdAt).toBeLessThanOrEqual(Date.now());
    expect(typeof conn.updatedAt).toBe('number');
    // FormField.value is not in the SDK model: read it from the wire.
    const raw = await lastBody('/vault/connections/crm/pipedrive');
    expect(raw.data.form_fields.find((f: { id: string }) => f.id === 'api_key').value).toBe(MASK);

    const again = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'pipedrive' })).getConnectionResponse!.data;
    expect(again).toMatchObject({ state: 'callable', settings: { api_key: MASK }, createdAt: conn.createdAt });
    expect((await lastBody('/vault/connections/crm/pipedrive')).data.form_fields[0].value).toBe(MASK);

    // Writing the mask back keeps the stored secret (still callable, still masked).
    const maskedBack = await apideck.vault.connections.update({ unifiedApi: 'crm', serviceId: 'pipedrive', connection: { settings: { api_key: MASK } } });
    expect(maskedBack.updateConnectionResponse?.data).toMatchObject({ state: 'callable', settings: { api_key: MASK } });

    // list: api + configured filters
    const configured = (await apideck.vault.connections.list({ api: 'crm', configured: true })).getConnectionsResponse!.data;
    expect(configured.map((c) => c.id)).toEqual(['crm+pipedrive']);
    expect(configured[0]).toMatchObject({ state: 'callable', settings: { api_key: MASK }, createdAt: conn.createdAt });
    const unconfigured = (await apideck.vault.connections.list({ api: 'crm', configured: false })).getConnectionsResponse!.data;
    expect(unconfigured.map((c) => c.id)).not.toContain('crm+pipedrive');
    expect(unconfigured.map((c) => c.id)).toEqual(expect.arrayContaining(['crm+hubspot', 'crm+salesforce']));
    expect(unconfigured.every((c) => c.state === 'available' && c.unifiedApi === 'crm')).toBe(true);

    // validate
    const valid = await apideck.vault.validateConnection.state({ unifiedApi: 'crm', serviceId: 'pipedrive' });
    expect(valid.validateConnectionStateResponse?.data).toEqual({ id: 'crm+pipedrive', state: 'callable' });

    // consumer detail: ConsumerConnection (ISO times) and services
    const consumer = (await sdk().vault.consumers.get({ consumerId: alice })).getConsumerResponse!.data;
    expect(consumer.services).toEqual(['pipedrive']);
    expect(consumer.connections).toHaveLength(1);
    const cc = consumer.connections![0];
    expect(cc).toMatchObject({
      id: 'crm+pipedrive',
      serviceId: 'pipedrive',
      unifiedApi: 'crm',
      consumerId: alice,
      authType: 'apiKey',
      enabled: true,
      state: 'callable',
      health: 'ok',
      settings: { api_key: MASK },
    });
    expect(typeof cc.createdAt).toBe('string');
    expect(cc.createdAt).toBe(new Date(conn.createdAt!).toISOString());

    expect(await allBodies()).not.toContain(PIPEDRIVE_KEY);
  });

  it('pipedrive: an added connection without its key is not callable and does not validate (422)', async () => {
    const apideck = sdk(bob);
    const res = await apideck.vault.connections.update({ unifiedApi: 'crm', serviceId: 'pipedrive', connection: { enabled: true } });
    expect(res.updateConnectionResponse?.data).toMatchObject({ state: 'added', health: 'missing_settings', enabled: true, settings: {} });
    const error = await rejection(apideck.vault.validateConnection.state({ unifiedApi: 'crm', serviceId: 'pipedrive' }));
    expect(error).toBeInstanceOf(UnprocessableResponse);
    expect(error.statusCode).toBe(422);
    expect(error.message).toContain('api_key');
  });

  it('consent: update creates a record, list returns it, consent_state follows', async () => {
    const apideck = sdk(alice);
    const empty = await apideck.vault.connectionConsents.list({ unifiedApi: 'crm', serviceId: 'pipedrive' });
    expect(empty.getConsentRecordsResponse?.data).toEqual([]);

    const resources = { 'crm.contacts': { name: { read: true, write: false }, 'emails[].email': { read: true, write: true } } };
    const granted = await apideck.vault.connectionConsent.update({
      unifiedApi: 'crm',
      serviceId: 'pipedrive',
      updateConsentRequest: { granted: true, resources },
    });
    const record = granted.updateConsentResponse!.data;
    expect(record).toMatchObject({ granted: true, resources });
    expect(record.id).toMatch(/^con_/);
    expect(Date.parse(String(record.createdAt))).not.toBeNaN();

    const list = (await apideck.vault.connectionConsents.list({ unifiedApi: 'crm', serviceId: 'pipedrive' })).getConsentRecordsResponse!.data;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: record.id, granted: true, resources });

    let conn = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'pipedrive' })).getConnectionResponse!.data;
    expect(conn.consentState).toBe('granted');
    expect(conn.latestConsent).toMatchObject({ id: record.id, granted: true });
    expect(conn.consents?.map((c) => c.id)).toEqual([record.id]);

    const revoked = await apideck.vault.connectionConsent.update({
      unifiedApi: 'crm',
      serviceId: 'pipedrive',
      updateConsentRequest: { granted: false, resources: '*' },
    });
    expect(revoked.updateConsentResponse?.data).toMatchObject({ granted: false, resources: '*' });
    const both = (await apideck.vault.connectionConsents.list({ unifiedApi: 'crm', serviceId: 'pipedrive' })).getConsentRecordsResponse!.data;
    expect(both.map((c) => c.granted)).toEqual([true, false]);
    conn = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'pipedrive' })).getConnectionResponse!.data;
    expect(conn.consentState).toBe('revoked');
    expect(conn.latestConsent).toMatchObject({ granted: false, resources: '*' });

    // No connection → 404
    const none = await rejection(apideck.vault.connectionConsents.list({ unifiedApi: 'crm', serviceId: 'hubspot' }));
    expect(none).toBeInstanceOf(NotFoundResponse);
  });

  it('callback-state returns a state string', async () => {
    const apideck = sdk(alice);
    const res = await apideck.vault.createCallback.state({
      unifiedApi: 'crm',
      serviceId: 'pipedrive',
      createCallbackState: { redirectUri: 'https://app.example.com/after-auth' },
    });
    expect(res.createCallbackStateResponse?.statusCode).toBe(200);
    const state = res.createCallbackStateResponse!.data.state;
    expect(state).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const second = await apideck.vault.createCallback.state({
      unifiedApi: 'crm',
      serviceId: 'pipedrive',
      createCallbackState: { redirectUri: 'https://app.example.com/after-auth' },
    });
    expect(second.createCallbackStateResponse?.data.state).not.toBe(state);

    const bad = await rejection(
      apideck.vault.createCallback.state({ unifiedApi: 'crm', serviceId: 'pipedrive', createCallbackState: { redirectUri: 'not a url' } }),
    );
    expect(bad).toBeInstanceOf(BadRequestResponse);
    expect(bad.statusCode).toBe(400);
  });

  it('token: pipedrive (apiKey) is a 400; a client_credentials connector gets its token from the provider', async () => {
    const apideck = sdk(alice);
    const bad = await rejection(apideck.vault.connections.token({ unifiedApi: 'crm', serviceId: 'pipedrive' }));
    expect(bad).toBeInstanceOf(BadRequestResponse);
    expect(bad.statusCode).toBe(400);
    expect(bad.typeName).toBe('RequestValidationError');

    const saved = await apideck.vault.connections.update({
      unifiedApi: 'hris',
      serviceId: 'personio',
      connection: { settings: { client_id: 'personio-client', client_secret: PERSONIO_SECRET } },
    });
    // client_credentials: settings saved but no token yet → added
    expect(saved.updateConnectionResponse?.data).toMatchObject({
      id: 'hris+personio',
      authType: 'oauth2',
      oauthGrantType: 'client_credentials',
      state: 'added',
      settings: { client_id: MASK, client_secret: MASK },
      authorizeUrl: null,
    });
    expect(saved.updateConnectionResponse?.data.settingsRequiredForAuthorization).toEqual(['client_id', 'client_secret']);
    // (Personio's grant would go to api.personio.de: the grant is exercised against the test provider instead.)

    const cc = await apideck.vault.connections.update({
      unifiedApi: 'hris',
      serviceId: CC_SERVICE,
      connection: { settings: { client_id: provider.clientId, client_secret: provider.clientSecret } },
    });
    expect(cc.updateConnectionResponse?.data).toMatchObject({
      id: `hris+${CC_SERVICE}`,
      authType: 'oauth2',
      oauthGrantType: 'client_credentials',
      state: 'added',
      // The test connector's client_id field is not sensitive (Personio's is).
      settings: { client_id: provider.clientId, client_secret: MASK },
      authorizeUrl: null,
    });
    expect(cc.updateConnectionResponse?.data.settingsRequiredForAuthorization).toEqual(['client_id', 'client_secret']);
    expect(provider.tokenRequests.client_credentials ?? 0).toBe(0);

    const granted = await apideck.vault.connections.token({ unifiedApi: 'hris', serviceId: CC_SERVICE, requestBody: {} });
    expect(granted.httpMeta.response.status).toBe(200);
    expect(granted.getConnectionResponse?.statusCode).toBe(200);
    expect(granted.getConnectionResponse?.data).toMatchObject({
      id: `hris+${CC_SERVICE}`,
      state: 'callable',
      health: 'ok',
      enabled: true,
      settings: { client_id: provider.clientId, client_secret: MASK },
    });
    expect(provider.tokenRequests.client_credentials).toBe(1);
    const first = await accessToken(alice, 'hris', CC_SERVICE);
    // Same without a request body (the SDK then sends none): the grant runs again.
    const again = await apideck.vault.connections.token({ unifiedApi: 'hris', serviceId: CC_SERVICE });
    expect(again.getConnectionResponse?.data).toMatchObject({ id: `hris+${CC_SERVICE}`, state: 'callable' });
    expect(provider.tokenRequests.client_credentials).toBe(2);
    const second = await accessToken(alice, 'hris', CC_SERVICE);
    expect(second).not.toBe(first);

    const wire = await allBodies();
    for (const secret of [PERSONIO_SECRET, provider.clientSecret, first, second]) expect(wire).not.toContain(secret);
  });

  it('authorization_code (test provider): token is a 400; validate refreshes at the provider', async () => {
    const apideck = sdk(alice);
    const before = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: CODE_SERVICE })).getConnectionResponse!.data;
    expect(before).toMatchObject({ id: `crm+${CODE_SERVICE}`, state: 'available', authType: 'oauth2', oauthGrantType: 'authorization_code', integrationState: 'configured' });
    const done = await followRedirects(`${before.authorizeUrl}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`, (url) => url.origin === 'https://app.example');
    expect(done.url.toString()).toBe(APP_REDIRECT);
    expect(provider.tokenRequests.authorization_code).toBe(1);
    const authorized = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: CODE_SERVICE })).getConnectionResponse!.data;
    expect(authorized).toMatchObject({ state: 'callable', health: 'ok', enabled: true });
    const issued = await accessToken(alice, 'crm', CODE_SERVICE);

    // The token grant is for client_credentials/password connectors only.
    const bad = await rejection(apideck.vault.connections.token({ unifiedApi: 'crm', serviceId: CODE_SERVICE, requestBody: {} }));
    expect(bad).toBeInstanceOf(BadRequestResponse);
    expect(bad.statusCode).toBe(400);
    expect(bad.typeName).toBe('RequestValidationError');

    // validate forces a refresh: one refresh_token request, a new access token stored.
    expect(provider.tokenRequests.refresh_token ?? 0).toBe(0);
    const valid = await apideck.vault.validateConnection.state({ unifiedApi: 'crm', serviceId: CODE_SERVICE });
    expect(valid.validateConnectionStateResponse?.data).toEqual({ id: `crm+${CODE_SERVICE}`, state: 'callable' });
    expect(provider.tokenRequests.refresh_token).toBe(1);
    const refreshed = await accessToken(alice, 'crm', CODE_SERVICE);
    expect(refreshed).not.toBe(issued);

    const wire = await allBodies();
    for (const secret of [provider.clientSecret, issued, refreshed]) expect(wire).not.toContain(secret);
  });

  it('imports: OAuth connections become callable without the browser flow; tokens never come back', async () => {
    const apideck = sdk(alice);
    const issuedAt = new Date();
    const hubspot = await apideck.vault.connections.imports({
      unifiedApi: 'crm',
      serviceId: 'hubspot',
      connectionImportData: { credentials: { accessToken: SF_ACCESS_TOKEN, refreshToken: 'hs-refresh', issuedAt, expiresIn: 3600 } },
    });
    expect(hubspot.createConnectionResponse?.data).toMatchObject({
      id: 'crm+hubspot',
      authType: 'oauth2',
      oauthGrantType: 'authorization_code',
      state: 'callable',
      health: 'ok',
      enabled: true,
    });
    expect(typeof hubspot.createConnectionResponse?.data.createdAt).toBe('number');
    expect(hubspot.createConnectionResponse?.data.authorizeUrl?.startsWith(`${coffer.url}/vault/authorize/hubspot/${coffer.appId}?state=`)).toBe(true);
    expect(hubspot.createConnectionResponse?.data.revokeUrl?.startsWith(`${coffer.url}/vault/revoke/hubspot/${coffer.appId}?state=`)).toBe(true);

    // Salesforce's only form field, instance_url, is optional (required: false): with an imported token and no
    // instance_url the connection is already callable (state rule: token present + all REQUIRED settings filled).
    const sf = await apideck.vault.connections.imports({
      unifiedApi: 'crm',
      serviceId: 'salesforce',
      connectionImportData: { credentials: { accessToken: SF_ACCESS_TOKEN, refreshToken: null } },
    });
    expect(sf.createConnectionResponse?.data).toMatchObject({ id: 'crm+salesforce', state: 'callable', settings: {} });
    // Re-import with the instance_url (not sensitive, so shown in plain) and metadata.
    const sf2 = await apideck.vault.connections.imports({
      unifiedApi: 'crm',
      serviceId: 'salesforce',
      connectionImportData: {
        credentials: { accessToken: SF_ACCESS_TOKEN, issuedAt: new Date('2020-01-01T00:00:00.000Z'), expiresIn: 7200 },
        settings: { instance_url: 'https://acme.my.salesforce.com' },
        metadata: { plan: 'enterprise' },
      },
    });
    expect(sf2.createConnectionResponse?.data).toMatchObject({
      state: 'callable',
      settings: { instance_url: 'https://acme.my.salesforce.com' },
      metadata: { additionalProperties: { plan: 'enterprise' } },
    });
    expect((await lastBody('/vault/connections/crm/salesforce/import')).data.form_fields[0]).toMatchObject({
      id: 'instance_url',
      value: 'https://acme.my.salesforce.com',
    });

    // Import is for OAuth connectors only.
    const bad = await rejection(
      apideck.vault.connections.imports({ unifiedApi: 'crm', serviceId: 'pipedrive', connectionImportData: { credentials: { accessToken: 'x' } } }),
    );
    expect(bad).toBeInstanceOf(BadRequestResponse);
    expect(bad.statusCode).toBe(400);

    expect(await allBodies()).not.toContain(SF_ACCESS_TOKEN);
  });

  it('resource settings, custom fields and custom mappings (salesforce leads)', async () => {
    const apideck = sdk(alice);
    const cfg = await apideck.vault.connectionSettings.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' });
    const data = cfg.getConnectionResponse!.data;
    expect(data.id).toBe('crm+salesforce');
    expect(data.configurableResources).toEqual(['leads', 'opportunities']);
    expect(data.configuration).toHaveLength(1);
    expect(data.configuration![0].resource).toBe('leads');
    expect(data.configuration![0].defaults!.map((d) => [d.id, d.value, d.target])).toEqual([
      ['default_lead_source', 'Web', 'resource'],
      ['default_lead_status', 'Open - Not Contacted', 'resource'],
    ]);
    expect(data.configuration![0].defaults![0].options).toHaveLength(5);
    expect(data.configuration![0].defaults![0].options![0]).toMatchObject({ label: 'Web', value: 'Web', optionType: 'simple' });
    expect(data.configuration![0].defaults![1].options![0]).toMatchObject({ label: 'Open', optionType: 'group' });

    const upd = await apideck.vault.connectionSettings.update({
      unifiedApi: 'crm',
      serviceId: 'salesforce',
      resource: 'leads',
      connection: { configuration: [{ resource: 'leads', defaults: [{ id: 'default_lead_source', value: 'Partner Referral' }] }] },
    });
    expect(upd.updateConnectionResponse!.data.configuration![0].defaults!.map((d) => [d.id, d.value])).toEqual([
      ['default_lead_source', 'Partner Referral'],
      ['default_lead_status', 'Open - Not Contacted'],
    ]);
    const reread = (await apideck.vault.connectionSettings.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' })).getConnectionResponse!.data;
    expect(reread.configuration![0].defaults![0].value).toBe('Partner Referral');
    // The full connection shows every configurable resource.
    const full = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'salesforce' })).getConnectionResponse!.data;
    expect(full.configuration!.map((c) => c.resource)).toEqual(['leads', 'opportunities']);
    expect(full.state).toBe('callable');

    const badValue = await rejection(
      apideck.vault.connectionSettings.update({
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        resource: 'leads',
        connection: { configuration: [{ resource: 'leads', defaults: [{ id: 'default_lead_source', value: 'Carrier Pigeon' }] }] },
      }),
    );
    expect(badValue).toBeInstanceOf(BadRequestResponse);
    const noSettings = await rejection(apideck.vault.connectionSettings.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'contacts' }));
    expect(noSettings).toBeInstanceOf(NotFoundResponse);

    const fields = await apideck.vault.customFields.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' });
    // `value` is `any` in the SDK model, so the JSON null comes out as undefined; the wire carries null.
    expect(fields.getCustomFieldsResponse?.data).toEqual([
      { id: 'Industry', name: 'Industry', description: "The lead's primary industry", finder: '$.Industry' },
      { id: 'Rating', name: 'Rating', description: 'Hot, Warm or Cold', finder: '$.Rating' },
      { id: 'AnnualRevenue', name: 'Annual revenue', description: null, finder: '$.AnnualRevenue' },
      { id: 'NumberOfEmployees', name: 'Employees', description: null, finder: '$.NumberOfEmployees' },
    ]);
    expect((await lastBody('/leads/custom-fields')).data.map((f: { value: unknown }) => f.value)).toEqual([null, null, null, null]);
    const withResourceId = await apideck.vault.customFields.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads', resourceId: '00Q5g00000AbCdEEAV' });
    expect(withResourceId.getCustomFieldsResponse?.data).toHaveLength(4);

    // Mappings: none yet.
    expect((await apideck.vault.connectionCustomMappings.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' })).getCustomMappingsResponse?.data).toEqual([]);
    expect((await apideck.vault.customMappings.list({ unifiedApi: 'crm', serviceId: 'salesforce' })).getCustomMappingsResponse?.data).toEqual([]);
    // Creating one is not in the SDK (internal endpoint); do it over plain HTTP.
    for (const [target, value] of [
      ['crm+leads+industry_code', '$.Industry'],
      ['crm+opportunities+next_step', '$.NextStep'],
    ]) {
      const r = await fetch(`${coffer.url}/vault/custom-mappings/crm/salesforce/${target}`, {
        method: 'POST',
        headers: { ...coffer.headers(alice), 'content-type': 'application/json' },
        body: JSON.stringify({ value }),
      });
      expect(r.status).toBe(200);
    }
    const leadMappings = (await apideck.vault.connectionCustomMappings.list({ unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' })).getCustomMappingsResponse!.data;
    expect(leadMappings).toEqual([
      expect.objectContaining({ id: 'crm+leads+industry_code', value: '$.Industry', key: 'industry_code', customField: true, consumerId: alice }),
    ]);
    const allMappings = (await apideck.vault.customMappings.list({ unifiedApi: 'crm', serviceId: 'salesforce' })).getCustomMappingsResponse!.data;
    expect(allMappings.map((m) => [m.id, m.value])).toEqual([
      ['crm+leads+industry_code', '$.Industry'],
      ['crm+opportunities+next_step', '$.NextStep'],
    ]);
    // Another consumer sees none of them.
    expect((await sdk(bob).vault.customMappings.list({ unifiedApi: 'crm', serviceId: 'salesforce' })).getCustomMappingsResponse?.data).toEqual([]);
    // And the connection lists them too.
    const withMappings = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'salesforce' })).getConnectionResponse!.data;
    expect(withMappings.customMappings?.map((m) => m.id)).toEqual(['crm+leads+industry_code', 'crm+opportunities+next_step']);
  });

  it('connections.delete resolves (204) and the connection is available again', async () => {
    const apideck = sdk(alice);
    const res = await apideck.vault.connections.delete({ unifiedApi: 'crm', serviceId: 'hubspot' });
    expect(res.httpMeta.response.status).toBe(204);
    expect(res.unexpectedErrorResponse).toBeUndefined();
    const after = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'hubspot' })).getConnectionResponse!.data;
    expect(after).toMatchObject({ state: 'available', enabled: false, settings: null, revokeUrl: null });
    expect(after.createdAt).toBeUndefined();
    const gone = await rejection(apideck.vault.connections.delete({ unifiedApi: 'crm', serviceId: 'hubspot' }));
    expect(gone).toBeInstanceOf(NotFoundResponse);
    expect(gone.statusCode).toBe(404);
  });

  it('migrate: 400 bad target, 404 absent source, 409 existing target, then a successful (idempotent) move', async () => {
    const apideck = sdk(alice);
    const badTarget = await rejection(
      apideck.vault.connections.migrate({ unifiedApi: 'crm', serviceId: 'pipedrive', connectionMigrateData: { targetServiceId: 'hubspot' } }),
    );
    expect(badTarget).toBeInstanceOf(BadRequestResponse);
    expect(badTarget.statusCode).toBe(400);
    expect(JSON.stringify(badTarget.detail)).toContain('target_service_id');

    const absent = await rejection(
      apideck.vault.connections.migrate({ unifiedApi: 'crm', serviceId: 'sdk-legacy-crm', connectionMigrateData: { targetServiceId: 'sdk-modern-crm' } }),
    );
    expect(absent).toBeInstanceOf(NotFoundResponse);
    expect(absent.statusCode).toBe(404);

    const legacy = await apideck.vault.connections.update({
      unifiedApi: 'crm',
      serviceId: 'sdk-legacy-crm',
      connection: { settings: { api_key: LEGACY_KEY, region: 'eu' } },
    });
    expect(legacy.updateConnectionResponse?.data).toMatchObject({ state: 'callable', settings: { api_key: MASK, region: 'eu' } });
    await apideck.vault.connectionConsent.update({ unifiedApi: 'crm', serviceId: 'sdk-legacy-crm', updateConsentRequest: { granted: true, resources: '*' } });

    await apideck.vault.connections.update({ unifiedApi: 'crm', serviceId: 'sdk-modern-crm', connection: { settings: { region: 'us' } } });
    const conflict = await rejection(
      apideck.vault.connections.migrate({ unifiedApi: 'crm', serviceId: 'sdk-legacy-crm', connectionMigrateData: { targetServiceId: 'sdk-modern-crm' } }),
    );
    expect(conflict).toBeInstanceOf(ConflictResponse);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.typeName).toBe('ConflictError');

    await apideck.vault.connections.delete({ unifiedApi: 'crm', serviceId: 'sdk-modern-crm' });
    const migrated = await apideck.vault.connections.migrate({
      unifiedApi: 'crm',
      serviceId: 'sdk-legacy-crm',
      connectionMigrateData: { targetServiceId: 'sdk-modern-crm' },
    });
    expect(migrated.httpMeta.response.status).toBe(200);
    const target = migrated.createConnectionResponse!.data;
    expect(target).toMatchObject({
      id: 'crm+sdk-modern-crm',
      serviceId: 'sdk-modern-crm',
      name: 'Modern CRM (test)',
      state: 'callable',
      enabled: true,
      settings: { api_key: MASK, region: 'eu' },
      consentState: 'granted',
    });
    expect(typeof target.createdAt).toBe('number');
    expect(target.consents).toHaveLength(1);

    const source = (await apideck.vault.connections.get({ unifiedApi: 'crm', serviceId: 'sdk-legacy-crm' })).getConnectionResponse!.data;
    expect(source.state).toBe('available');
    // Retrying the same migration is a no-op that returns the target.
    const retry = await apideck.vault.connections.migrate({
      unifiedApi: 'crm',
      serviceId: 'sdk-legacy-crm',
      connectionMigrateData: { targetServiceId: 'sdk-modern-crm' },
    });
    expect(retry.createConnectionResponse?.data).toMatchObject({ id: 'crm+sdk-modern-crm', state: 'callable', createdAt: target.createdAt });

    expect(await allBodies()).not.toContain(LEGACY_KEY);
  });

  it('sessions.create: session_uri under coffer.url and a JWT with the claims and setting defaults', async () => {
    const apideck = sdk(alice);
    const res = await apideck.vault.sessions.create({
      session: {
        consumerMetadata: { accountName: 'Alice Corporation', email: 'alice@example.com' },
        redirectUri: 'https://app.example.com/done',
        settings: { unifiedApis: ['crm'], sessionLength: '30m' },
        theme: { vaultName: 'Acme Vault', primaryColor: '#123456' },
      },
    });
    const { sessionUri, sessionToken } = res.createSessionResponse!.data;
    expect(sessionUri.startsWith(`${coffer.url}/session/`)).toBe(true);
    expect(sessionUri).toBe(`${coffer.url}/session/${sessionToken}`);
    const claims = decodeJwtPayload(sessionToken);
    expect(claims).toMatchObject({
      application_id: coffer.appId,
      consumer_id: alice,
      consumer_metadata: { account_name: 'Alice Corporation', email: 'alice@example.com' },
      redirect_uri: 'https://app.example.com/done',
      theme: { vault_name: 'Acme Vault', primary_color: '#123456' },
      settings: {
        unified_apis: ['crm'],
        session_length: '30m',
        hide_resource_settings: false,
        sandbox_mode: false,
        isolation_mode: false,
        show_logs: true,
        show_suggestions: false,
        show_sidebar: true,
        auto_redirect: false,
        hide_guides: false,
      },
    });
    expect(claims.exp - claims.iat).toBe(30 * 60);

    // No body: defaults, 1h; the consumer is upserted.
    const fresh = 'sdk-session-only';
    const bare = await sdk(fresh).vault.sessions.create({});
    const bareClaims = decodeJwtPayload(bare.createSessionResponse!.data.sessionToken);
    expect(bareClaims).toMatchObject({
      application_id: coffer.appId,
      consumer_id: fresh,
      settings: { session_length: '1h', show_logs: true, show_sidebar: true, sandbox_mode: false },
    });
    expect(bareClaims.exp - bareClaims.iat).toBe(3600);
    expect((await sdk().vault.consumers.get({ consumerId: fresh })).getConsumerResponse?.data.consumerId).toBe(fresh);

    // The token works as a Bearer credential for the Vault UI endpoints.
    const viaSession = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, {
      headers: { authorization: `Bearer ${sessionToken}`, 'x-apideck-app-id': coffer.appId, 'x-apideck-auth-type': 'JWT' },
    });
    expect(viaSession.status).toBe(200);
    expect((await viaSession.json()).data).toMatchObject({ state: 'callable', settings: { api_key: MASK } });
  });

  it('consumerRequestCounts.list counts the consumer’s vault requests in the window', async () => {
    const apideck = sdk();
    const start = new Date(Date.now() - 3600_000);
    const end = new Date(Date.now() + 60_000);
    const res = await apideck.vault.consumerRequestCounts.list({ consumerId: alice, startDatetime: start.toISOString(), endDatetime: end.toISOString() });
    const data = res.consumerRequestCountsInDateRangeResponse!.data;
    expect(data).toMatchObject({
      applicationId: coffer.appId,
      consumerId: alice,
      startDatetime: start.toISOString(),
      endDatetime: end.toISOString(),
      requestCounts: { unify: 0, proxy: 0 },
    });
    expect(data.requestCounts!.vault).toBeGreaterThan(20);
    expect(data.aggregatedRequestCount).toBe(data.requestCounts!.vault);

    const past = await apideck.vault.consumerRequestCounts.list({
      consumerId: alice,
      startDatetime: '2000-01-01T00:00:00.000Z',
      endDatetime: '2000-01-02T00:00:00.000Z',
    });
    expect(past.consumerRequestCountsInDateRangeResponse?.data).toMatchObject({ aggregatedRequestCount: 0, requestCounts: { unify: 0, proxy: 0, vault: 0 } });

    const reversed = await rejection(
      apideck.vault.consumerRequestCounts.list({ consumerId: alice, startDatetime: end.toISOString(), endDatetime: start.toISOString() }),
    );
    expect(reversed).toBeInstanceOf(BadRequestResponse);
  });

  it('logs.list shows the calls made, with filters and cursor paging', async () => {
    const apideck = sdk(alice);
    const collect = async (request: Parameters<typeof apideck.vault.logs.list>[0]) => {
      const pages: Array<NonNullable<Awaited<ReturnType<typeof apideck.vault.logs.list>>['getLogsResponse']>> = [];
      for await (const page of await apideck.vault.logs.list(request)) pages.push(page.getLogsResponse!);
      return pages;
    };

    const all = (await collect({ limit: 200 })).flatMap((p) => p.data);
    expect(all.length).toBeGreaterThan(20);
    expect(all.every((l) => l.consumerId === alice && l.unifiedApi === 'vault' && l.apiStyle === 'REST')).toBe(true);
    // newest first
    const times = all.map((l) => Date.parse(l.timestamp));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const ops = new Set(all.map((l) => l.operation.id));
    for (const id of [
      'connectionsAll',
      'connectionsOne',
      'connectionsUpdate',
      'connectionsDelete',
      'connectionsImport',
      'connectionsMigrate',
      'connectionsToken',
      'validateConnectionState',
      'connectionConsentsAll',
      'connectionConsentUpdate',
      'createCallbackState',
      'connectionSettingsAll',
      'connectionSettingsUpdate',
      'customFieldsAll',
      'connectionCustomMappingsAll',
      'customMappingsAll',
      'sessionsCreate',
    ]) {
      expect(ops, id).toContain(id);
    }
    const update = all.find((l) => l.operation.id === 'connectionsUpdate' && l.path === '/vault/connections/crm/pipedrive');
    expect(update).toMatchObject({ httpMethod: 'PATCH', statusCode: 200, success: true, service: { id: 'pipedrive' } });
    const token200 = all.filter((l) => l.operation.id === 'connectionsToken' && l.statusCode === 200);
    expect(token200.map((l) => l.path)).toEqual([`/vault/connections/hris/${CC_SERVICE}/token`, `/vault/connections/hris/${CC_SERVICE}/token`]);
    expect(token200[0]).toMatchObject({ success: true, httpMethod: 'POST', service: { id: CC_SERVICE } });
    const validated = all.find((l) => l.operation.id === 'validateConnectionState' && l.path === `/vault/connections/crm/${CODE_SERVICE}/validate`);
    expect(validated).toMatchObject({ statusCode: 200, success: true, httpMethod: 'POST', service: { id: CODE_SERVICE } });

    // exclude_unified_apis=vault removes every (vault) entry
    const excluded = await collect({ filter: { excludeUnifiedApis: 'vault' } });
    expect(excluded).toHaveLength(1);
    expect(excluded[0].data).toEqual([]);
    expect(excluded[0].meta?.cursors?.next).toBeNull();

    // status codes
    const errors = (await collect({ filter: { statusCodes: [400, 409] }, limit: 200 })).flatMap((p) => p.data);
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors.map((l) => l.statusCode))).toEqual(new Set([400, 409]));
    expect(errors.map((l) => l.operation.id)).toEqual(expect.arrayContaining(['connectionsToken', 'connectionsMigrate', 'connectionsImport']));
    expect(errors.length).toBe(all.filter((l) => l.statusCode === 400 || l.statusCode === 409).length);
    const only400 = (await collect({ filter: { statusCode: 400 }, limit: 200 })).flatMap((p) => p.data);
    expect(only400.map((l) => l.id)).toEqual(all.filter((l) => l.statusCode === 400).map((l) => l.id));
    expect(only400.filter((l) => l.operation.id === 'connectionsToken').map((l) => l.path)).toEqual([
      `/vault/connections/crm/${CODE_SERVICE}/token`,
      '/vault/connections/crm/pipedrive/token',
    ]);

    // http methods
    const deletes = (await collect({ filter: { httpMethods: ['DELETE'] }, limit: 200 })).flatMap((p) => p.data);
    expect(deletes.length).toBe(all.filter((l) => l.httpMethod === 'DELETE').length);
    expect(deletes.map((l) => l.operation.id)).toEqual(expect.arrayContaining(['connectionsDelete']));
    expect(deletes.every((l) => l.httpMethod === 'DELETE')).toBe(true);
    const patchesAndPosts = (await collect({ filter: { httpMethods: ['PATCH', 'POST'] }, limit: 200 })).flatMap((p) => p.data);
    expect(patchesAndPosts.length).toBe(all.filter((l) => l.httpMethod === 'PATCH' || l.httpMethod === 'POST').length);

    // path + match mode
    const exact = (await collect({ filter: { path: '/vault/connections/crm/pipedrive', pathMatchMode: 'EXACT' }, limit: 200 })).flatMap((p) => p.data);
    expect(exact.length).toBe(all.filter((l) => l.path === '/vault/connections/crm/pipedrive').length);
    expect(exact.every((l) => l.path === '/vault/connections/crm/pipedrive')).toBe(true);
    const contains = (await collect({ filter: { path: 'pipedrive' }, limit: 200 })).flatMap((p) => p.data);
    expect(contains.length).toBe(all.filter((l) => l.path.includes('pipedrive')).length);
    expect(contains.length).toBeGreaterThan(exact.length);
    const endsWith = (await collect({ filter: { path: '/consent', pathMatchMode: 'ENDS_WITH' }, limit: 200 })).flatMap((p) => p.data);
    expect(endsWith.length).toBe(all.filter((l) => l.path.endsWith('/consent')).length);
    expect(new Set(endsWith.map((l) => l.operation.id))).toEqual(new Set(['connectionConsentsAll', 'connectionConsentUpdate']));
    const startsWith = (await collect({ filter: { path: '/vault/custom-mappings/', pathMatchMode: 'STARTS_WITH' }, limit: 200 })).flatMap((p) => p.data);
    expect(startsWith.length).toBe(all.filter((l) => l.path.startsWith('/vault/custom-mappings/')).length);
    expect(startsWith.length).toBeGreaterThan(0);

    // date window
    const future = (await collect({ filter: { startDate: new Date(Date.now() + 3600_000) } })).flatMap((p) => p.data);
    expect(future).toEqual([]);

    // cursor paging with a small limit walks every entry exactly once, newest first
    const pages = await collect({ limit: 7 });
    const pagedCount = pages.reduce((n, p) => n + p.data.length, 0);
    expect(pages.length).toBeGreaterThan(3);
    expect(pages.length).toBe(Math.ceil(pagedCount / 7));
    expect(pages.slice(0, -1).every((p) => p.data.length === 7 && p.meta?.itemsOnPage === 7 && typeof p.meta?.cursors?.next === 'string')).toBe(true);
    expect(pages[pages.length - 1].meta?.cursors?.next).toBeNull();
    // every page's current cursor is the previous page's next
    for (let i = 1; i < pages.length; i++) expect(pages[i].meta?.cursors?.current).toBe(pages[i - 1].meta?.cursors?.next);
    // (the log list grows with every call, so compare against the older snapshot by id)
    const paged = pages.flatMap((p) => p.data.map((l) => l.id));
    expect(new Set(paged).size).toBe(paged.length);
    expect(paged.filter((id) => all.some((l) => l.id === id))).toEqual(all.map((l) => l.id));
  });

  it('consumers.delete removes the consumer and all its connections', async () => {
    const admin = sdk();
    const before = (await admin.vault.consumers.get({ consumerId: alice })).getConsumerResponse!.data;
    expect(before.services).toEqual(['personio', 'pipedrive', 'salesforce', 'sdk-modern-crm', CC_SERVICE, CODE_SERVICE]);
    expect(before.connections!.map((c) => c.id)).toEqual([
      'hris+personio',
      'crm+pipedrive',
      'crm+salesforce',
      'crm+sdk-modern-crm',
      `hris+${CC_SERVICE}`,
      `crm+${CODE_SERVICE}`,
    ]);
    expect(before.connections!.every((c) => typeof c.createdAt === 'string' && !Number.isNaN(Date.parse(c.createdAt)))).toBe(true);

    const res = await admin.vault.consumers.delete({ consumerId: alice });
    expect(res.httpMeta.response.status).toBe(200);
    expect(res.deleteConsumerResponse?.data).toEqual({ consumerId: alice });

    const gone = await rejection(admin.vault.consumers.get({ consumerId: alice }));
    expect(gone).toBeInstanceOf(NotFoundResponse);
    const listed: string[] = [];
    for await (const page of await admin.vault.consumers.list({ filter: { consumerId: 'sdk-' }, limit: 200 })) {
      listed.push(...page.getConsumersResponse!.data.map((c) => c.consumerId!));
    }
    expect(listed).not.toContain(alice);
    expect(listed).toContain(bob);

    // Every connection of the deleted consumer is gone: all back to `available`.
    const conns = (await sdk(alice).vault.connections.list({})).getConnectionsResponse!.data;
    expect(conns.length).toBeGreaterThan(0);
    expect(conns.every((c) => c.state === 'available' && c.createdAt === undefined)).toBe(true);
    const noConsents = await rejection(sdk(alice).vault.connectionConsents.list({ unifiedApi: 'crm', serviceId: 'sdk-modern-crm' }));
    expect(noConsents).toBeInstanceOf(NotFoundResponse);
    // Bob is untouched.
    expect((await admin.vault.consumers.get({ consumerId: bob })).getConsumerResponse?.data.services).toEqual(['pipedrive']);

    const twice = await rejection(admin.vault.consumers.delete({ consumerId: alice }));
    expect(twice).toBeInstanceOf(NotFoundResponse);
  });
});
