// Drives every Vault operation of the older official SDK `@apideck/node@3.8.0` against a real Coffer.
// This SDK returns the snake_case JSON envelope (through its generated FromJSON mappers, which rename
// `configuration` to `_configuration` and drop keys whose value is null, so a JSON null reads as undefined), always sends `x-apideck-service-id` (empty when unset) and
// `x-apideck-consumer-id` (also on the consumer endpoints), and throws the fetch Response on any non-2xx.
// OAuth token grants and refreshes go to a real OAuth server on 127.0.0.1 (test/support/oidc.ts), never to a vendor.
import fs from 'node:fs';
import { Apideck } from '@apideck/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { followRedirects, LOCAL_PROVIDER_ENV, startProvider, tempDir, type TestProvider } from '../support/oidc.js';

const CONSUMER = 'sdk-consumer';
const MASK = '********';
/** client_credentials against the test provider; the consumer brings the OAuth client as settings. */
const CC_SERVICE = 'test-cc';
/** authorization_code against the test provider, with the application's OAuth client. */
const CODE_SERVICE = 'test-oidc';
const APP_REDIRECT = 'https://app.example/oauth/done';

/** Awaits an SDK call that must fail; the SDK throws the fetch Response. */
async function failure(call: Promise<unknown>): Promise<{ status: number; body: any }> {
  let thrown: unknown;
  try {
    await call;
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error('expected the SDK call to be rejected');
  const response = thrown as { status?: unknown; json?: () => Promise<unknown> };
  if (typeof response.status !== 'number' || typeof response.json !== 'function') throw thrown;
  return { status: response.status, body: await response.json() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function decodeJwtPayload(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

describe.each(backends)('@apideck/node 3.8.0 against Coffer (%s)', (backend) => {
  let coffer: TestCoffer;
  let provider: TestProvider;
  let connectorsDir: string;
  let apideck: Apideck;
  /** Same application, no consumer configured (the SDK then sends an empty x-apideck-consumer-id). */
  let noConsumer: Apideck;

  beforeAll(async () => {
    provider = await startProvider();
    connectorsDir = tempDir('coffer-node-sdk-connectors-');
    provider.writeConnector(connectorsDir, { id: CC_SERVICE, grantType: 'client_credentials', consumerClient: true, unifiedApis: ['hris'] });
    provider.writeConnector(connectorsDir, { id: CODE_SERVICE });
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: connectorsDir, ...LOCAL_PROVIDER_ENV });
    provider.init([`${coffer.url}/vault/callback`]);
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, CODE_SERVICE, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
    apideck = new Apideck({ basePath: coffer.url, apiKey: coffer.apiKey, appId: coffer.appId, consumerId: CONSUMER });
    noConsumer = new Apideck({ basePath: coffer.url, apiKey: coffer.apiKey, appId: coffer.appId });
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    if (connectorsDir) fs.rmSync(connectorsDir, { recursive: true, force: true });
  });

  /** The access token Coffer holds for a connection (`GET …/credentials`, API keys only). */
  const accessToken = async (consumerId: string, unifiedApi: string, serviceId: string): Promise<string> => {
    const res = await fetch(`${coffer.url}/vault/connections/${unifiedApi}/${serviceId}/credentials`, { headers: coffer.headers(consumerId) });
    expect(res.status).toBe(200);
    const token = (await res.json()).data.access_token;
    expect(token).toEqual(expect.any(String));
    return token;
  };

  describe('consumers', () => {
    it('adds, reads, updates and deletes a consumer', async () => {
      const added = await apideck.vault.consumersAdd({
        consumer: { consumer_id: 'acme:1', metadata: { account_name: 'Acme', user_name: 'Ada', email: 'ada@acme.test' } },
      });
      expect(added.status_code).toBe(200);
      expect(added.status).toBe('OK');
      expect(added.data).toMatchObject({
        consumer_id: 'acme:1',
        application_id: coffer.appId,
        metadata: { account_name: 'Acme', user_name: 'Ada', email: 'ada@acme.test' },
        services: [],
        connections: [],
        aggregated_request_count: 0,
        request_counts: { unify: 0, proxy: 0, vault: 0 },
      });
      expect(Date.parse(added.data.created!)).not.toBeNaN();

      // A connection of that consumer shows up in consumersOne (connections[] with ISO times, secrets masked).
      await apideck.vault.connectionsUpdate({
        consumerId: 'acme:1',
        unifiedApi: 'crm',
        serviceId: 'pipedrive',
        connection: { settings: { api_key: 'acme-secret' } },
      });
      const one = await apideck.vault.consumersOne({ consumerId: 'acme:1' });
      expect(one.data.consumer_id).toBe('acme:1');
      expect(one.data.services).toEqual(['pipedrive']);
      expect(one.data.connections).toHaveLength(1);
      expect(one.data.connections![0]).toMatchObject({
        id: 'crm+pipedrive',
        service_id: 'pipedrive',
        unified_api: 'crm',
        consumer_id: 'acme:1',
        auth_type: 'apiKey',
        enabled: true,
        state: 'callable',
        settings: { api_key: MASK },
      });
      expect(typeof one.data.connections![0].created_at).toBe('string');
      expect(JSON.stringify(one)).not.toContain('acme-secret');

      const updated = await apideck.vault.consumersUpdate({ consumerId: 'acme:1', consumer: { metadata: { user_name: 'Grace' } } });
      expect(updated.data.metadata).toEqual({ account_name: 'Acme', user_name: 'Grace', email: 'ada@acme.test' });

      const deleted = await apideck.vault.consumersDelete({ consumerId: 'acme:1' });
      expect(deleted).toMatchObject({ status_code: 200, status: 'OK', data: { consumer_id: 'acme:1' } });

      const gone = await failure(apideck.vault.consumersOne({ consumerId: 'acme:1' }));
      expect(gone.status).toBe(404);
      expect(gone.body).toMatchObject({ status_code: 404, error: 'Not Found', type_name: 'EntityNotFoundError' });
      // Its connections went with it.
      const after = await apideck.vault.connectionsOne({ consumerId: 'acme:1', unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect(after.data.state).toBe('available');
    });

    it('rejects an update or delete of an unknown consumer with 404', async () => {
      expect((await failure(apideck.vault.consumersUpdate({ consumerId: 'nobody', consumer: { metadata: { user_name: 'x' } } }))).status).toBe(404);
      expect((await failure(apideck.vault.consumersDelete({ consumerId: 'nobody' }))).status).toBe(404);
    });

    it('pages consumers with limit and cursor', async () => {
      // A fresh application, so the listing holds exactly these consumers.
      const app = await coffer.createApp();
      const sdk = new Apideck({ basePath: coffer.url, apiKey: app.api_key, appId: app.application_id, consumerId: CONSUMER });
      const ids = ['c-01', 'c-02', 'c-03', 'c-04', 'c-05'];
      for (const id of [...ids].reverse()) await sdk.vault.consumersAdd({ consumer: { consumer_id: id } });

      const first = await sdk.vault.consumersAll({ limit: 2 });
      expect(first.data.map((c) => c.consumer_id)).toEqual(['c-01', 'c-02']);
      expect(first.data[0].application_id).toBe(app.application_id);
      expect(first.meta!.items_on_page).toBe(2);
      expect(first.meta!.cursors!.current).toBeUndefined(); // null on the wire
      const next = first.meta!.cursors!.next;
      expect(typeof next).toBe('string');
      expect(first.links!.next).toBe(`${coffer.url}/vault/consumers?limit=2&cursor=${encodeURIComponent(next!)}`);

      const second = await sdk.vault.consumersAll({ limit: 2, cursor: next });
      expect(second.data.map((c) => c.consumer_id)).toEqual(['c-03', 'c-04']);
      expect(second.meta!.cursors!.current).toBe(next);
      const third = await sdk.vault.consumersAll({ limit: 2, cursor: second.meta!.cursors!.next });
      expect(third.data.map((c) => c.consumer_id)).toEqual(['c-05']);
      expect(third.meta!.items_on_page).toBe(1);
      expect(third.meta!.cursors!.next).toBeUndefined();
      expect(third.links!.next).toBeUndefined();

      // Without a limit: the default page (20) holds them all.
      const all = await sdk.vault.consumersAll();
      expect(all.data.map((c) => c.consumer_id)).toEqual(ids);
      expect(all.meta!.cursors!.next).toBeUndefined();

      expect((await failure(sdk.vault.consumersAll({ limit: 0 }))).status).toBe(400);
      expect((await failure(sdk.vault.consumersAll({ cursor: 'not-a-cursor' }))).status).toBe(400);
    });

    it('counts a consumer’s requests within a date range', async () => {
      const consumerId = 'stats-consumer';
      await apideck.vault.consumersAdd({ consumer: { consumer_id: consumerId } });
      const start = new Date(Date.now() - 1000).toISOString();
      await apideck.vault.connectionsAll({ consumerId });
      await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect((await failure(apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: 'no-such-crm' }))).status).toBe(404);
      // The window closes before the stats calls themselves are made.
      const end = new Date(Date.now() + 100).toISOString();
      await sleep(150);

      const stats = await apideck.vault.consumerRequestCountsAll({ consumerId, startDatetime: start, endDatetime: end });
      expect(stats.status_code).toBe(200);
      expect(stats.data).toEqual({
        application_id: coffer.appId,
        consumer_id: consumerId,
        start_datetime: start,
        end_datetime: end,
        aggregated_request_count: 3,
        request_counts: { unify: 0, proxy: 0, vault: 3 },
      });
      const empty = await apideck.vault.consumerRequestCountsAll({ consumerId, startDatetime: '2001-01-01T00:00:00.000Z', endDatetime: '2001-01-02T00:00:00.000Z' });
      expect(empty.data!.aggregated_request_count).toBe(0);

      expect((await failure(apideck.vault.consumerRequestCountsAll({ consumerId, startDatetime: end, endDatetime: start }))).status).toBe(400);
      expect((await failure(apideck.vault.consumerRequestCountsAll({ consumerId, startDatetime: 'yesterday', endDatetime: end }))).status).toBe(400);
      expect((await failure(apideck.vault.consumerRequestCountsAll({ consumerId: 'nobody', startDatetime: start, endDatetime: end }))).status).toBe(404);
    });
  });

  describe('connections', () => {
    it('lists the enabled integrations for a consumer, filtered by api and configured', async () => {
      const consumerId = 'list-consumer';
      const all = await apideck.vault.connectionsAll({ consumerId });
      expect(all.status_code).toBe(200);
      const ids = all.data.map((c) => c.id);
      expect(ids).toEqual(expect.arrayContaining(['crm+pipedrive', 'crm+salesforce', 'lead+salesforce', 'hris+personio']));
      for (const c of all.data) {
        expect(c.state).toBe('available');
        expect(c.enabled).toBe(false);
      }
      const pipedrive = all.data.find((c) => c.id === 'crm+pipedrive')!;
      expect(pipedrive).toMatchObject({ service_id: 'pipedrive', unified_api: 'crm', name: 'Pipedrive', auth_type: 'apiKey', authorize_url: undefined });
      const salesforce = all.data.find((c) => c.id === 'crm+salesforce')!;
      expect(salesforce.auth_type).toBe('oauth2');
      expect(salesforce.oauth_grant_type).toBe('authorization_code');
      expect(salesforce.authorize_url).toMatch(new RegExp(`^${coffer.url}/vault/authorize/salesforce/${coffer.appId}\\?state=[^&]+$`));

      const crm = await apideck.vault.connectionsAll({ consumerId, api: 'crm' });
      expect(crm.data.length).toBeGreaterThan(0);
      expect(crm.data.every((c) => c.unified_api === 'crm')).toBe(true);
      expect(crm.data.map((c) => c.id)).not.toContain('lead+salesforce');

      expect((await apideck.vault.connectionsAll({ consumerId, configured: true })).data).toEqual([]);
      await apideck.vault.connectionsUpdate({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive', connection: { settings: { api_key: 'k' } } });
      const configured = await apideck.vault.connectionsAll({ consumerId, configured: true });
      expect(configured.data.map((c) => c.id)).toEqual(['crm+pipedrive']);
      expect(configured.data[0].state).toBe('callable');
      const unconfigured = await apideck.vault.connectionsAll({ consumerId, configured: false });
      expect(unconfigured.data.map((c) => c.id)).not.toContain('crm+pipedrive');
      expect(unconfigured.data.length).toBe(all.data.length - 1);

      expect((await failure(apideck.vault.connectionsAll({ consumerId, api: 'not-an-api' }))).status).toBe(400);
    });

    it('lists connections without a consumer (empty consumer header), all available and without authorize URLs', async () => {
      const res = await noConsumer.vault.connectionsAll();
      expect(res.data.length).toBeGreaterThan(0);
      for (const c of res.data) {
        expect(c.state).toBe('available');
        expect(c.authorize_url).toBeUndefined();
      }
      // Connection-scoped operations need the consumer: an empty header counts as missing.
      const missing = await failure(noConsumer.vault.connectionsOne({ unifiedApi: 'crm', serviceId: 'pipedrive' }));
      expect(missing.status).toBe(400);
      expect(missing.body).toMatchObject({ type_name: 'RequestHeadersValidationError', detail: { missing: [{ 'x-apideck-consumer-id': 'required' }] } });
    });

    it('makes pipedrive callable with an API key, masking the secret', async () => {
      const before = await apideck.vault.connectionsOne({ unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect(before.data).toMatchObject({ id: 'crm+pipedrive', state: 'available', enabled: false, settings: undefined, auth_type: 'apiKey' });
      expect(before.data.form_fields!.map((f) => f.id)).toEqual(['api_key']);
      expect(before.data.form_fields![0]).toMatchObject({ required: true, sensitive: true, type: 'password' });

      const updated = await apideck.vault.connectionsUpdate({
        unifiedApi: 'crm',
        serviceId: 'pipedrive',
        connection: { settings: { api_key: 'pd-secret-123' }, metadata: { plan: 'gold' } },
      });
      expect(updated.status_code).toBe(200);
      expect(updated.data).toMatchObject({
        id: 'crm+pipedrive',
        state: 'callable',
        enabled: true,
        settings: { api_key: MASK },
        metadata: { plan: 'gold' },
      });
      expect(typeof updated.data.created_at).toBe('number');
      expect(typeof updated.data.updated_at).toBe('number');
      expect(JSON.stringify(updated)).not.toContain('pd-secret-123');

      const one = await apideck.vault.connectionsOne({ unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect(one.data).toMatchObject({ state: 'callable', enabled: true, settings: { api_key: MASK } });
      expect(JSON.stringify(one)).not.toContain('pd-secret-123');

      // Disabling keeps the state; writing the mask back keeps the stored secret.
      const disabled = await apideck.vault.connectionsUpdate({
        unifiedApi: 'crm',
        serviceId: 'pipedrive',
        connection: { enabled: false, settings: { api_key: MASK } },
      });
      expect(disabled.data).toMatchObject({ enabled: false, state: 'callable', settings: { api_key: MASK } });

      const validated = await apideck.vault.validateConnectionState({ unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect(validated).toMatchObject({ status_code: 200, data: { id: 'crm+pipedrive', state: 'callable' } });
    });

    it('round-trips a connection read with connectionsOne through connectionsUpdate', async () => {
      const consumerId = 'roundtrip-consumer';
      await apideck.vault.connectionsImport({
        consumerId,
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        connection: { credentials: { access_token: 'rt-at', refresh_token: 'rt-rt' }, settings: { instance_url: 'https://rt.my.salesforce.com' } },
      });
      const mapped = await fetch(`${coffer.url}/vault/custom-mappings/crm/salesforce/crm+leads+industry`, {
        method: 'POST',
        headers: { ...coffer.headers(consumerId), 'content-type': 'application/json' },
        body: JSON.stringify({ value: '$.Industry' }),
      });
      expect(mapped.status).toBe(200);

      const { data } = await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce' });
      expect(data.custom_mappings).toEqual([expect.objectContaining({ id: 'crm+leads+industry', value: '$.Industry' })]);
      // The SDK serializes the whole object back (custom_mappings as `{value}` only, configuration with options).
      const saved = await apideck.vault.connectionsUpdate({
        consumerId,
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        connection: { ...data, metadata: { team: 'emea' } },
      });
      expect(saved.data).toMatchObject({ state: 'callable', settings: { instance_url: 'https://rt.my.salesforce.com' }, metadata: { team: 'emea' } });
      expect(saved.data.custom_mappings).toEqual([expect.objectContaining({ id: 'crm+leads+industry', value: '$.Industry' })]);
      expect(saved.data._configuration).toEqual(data._configuration);
      // A changed value cannot say which mapping it is for (the SDK drops the read-only id): rejected, not dropped.
      const changed = { ...data, custom_mappings: [{ ...data.custom_mappings![0], value: '$.Rating' }] };
      const rejected = await failure(apideck.vault.connectionsUpdate({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', connection: changed }));
      expect(rejected.status).toBe(400);
      expect(rejected.body.message).toBe('custom_mappings[0].id is required');
      expect((await apideck.vault.customMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce' })).data.map((m) => m.value)).toEqual(['$.Industry']);
    });

    it('answers the token and validate operations per auth type', async () => {
      // apiKey connector: there is no token to request.
      const pipedrive = await failure(apideck.vault.connectionsToken({ unifiedApi: 'crm', serviceId: 'pipedrive' }));
      expect(pipedrive.status).toBe(400);
      expect(pipedrive.body).toMatchObject({ status_code: 400, error: 'Bad Request' });

      // A catalogue client_credentials connector takes its client as settings; no token yet → added. (Its grant would
      // go to api.personio.de: the grant itself is exercised against the test provider below.)
      const personio = await apideck.vault.connectionsUpdate({
        consumerId: 'personio-consumer',
        unifiedApi: 'hris',
        serviceId: 'personio',
        connection: { settings: { client_id: 'cid', client_secret: 'csecret' } },
      });
      expect(personio.data).toMatchObject({
        id: 'hris+personio',
        auth_type: 'oauth2',
        oauth_grant_type: 'client_credentials',
        state: 'added',
        authorize_url: undefined,
        settings: { client_id: MASK, client_secret: MASK },
      });
      expect(JSON.stringify(personio)).not.toContain('csecret');

      // client_credentials connector: 404 until the connection exists, then the grant at the provider makes it callable.
      const consumerId = 'cc-consumer';
      expect((await failure(apideck.vault.connectionsToken({ consumerId, unifiedApi: 'hris', serviceId: CC_SERVICE }))).status).toBe(404);
      expect(provider.tokenRequests.client_credentials ?? 0).toBe(0);
      const saved = await apideck.vault.connectionsUpdate({
        consumerId,
        unifiedApi: 'hris',
        serviceId: CC_SERVICE,
        connection: { settings: { client_id: provider.clientId, client_secret: provider.clientSecret } },
      });
      expect(saved.data).toMatchObject({
        id: `hris+${CC_SERVICE}`,
        auth_type: 'oauth2',
        oauth_grant_type: 'client_credentials',
        state: 'added',
        authorize_url: undefined,
        // The test connector's client_id field is not sensitive (Personio's is).
        settings: { client_id: provider.clientId, client_secret: MASK },
      });
      const token = await apideck.vault.connectionsToken({ consumerId, unifiedApi: 'hris', serviceId: CC_SERVICE, body: {} });
      expect(token).toMatchObject({
        status_code: 200,
        data: { id: `hris+${CC_SERVICE}`, state: 'callable', enabled: true, settings: { client_id: provider.clientId, client_secret: MASK } },
      });
      expect(provider.tokenRequests.client_credentials).toBe(1);
      const granted = await accessToken(consumerId, 'hris', CC_SERVICE);
      // validate on a client_credentials connection runs the grant again (there is no refresh token).
      expect((await apideck.vault.validateConnectionState({ consumerId, unifiedApi: 'hris', serviceId: CC_SERVICE, body: {} })).data).toEqual({
        id: `hris+${CC_SERVICE}`,
        state: 'callable',
      });
      expect(provider.tokenRequests.client_credentials).toBe(2);
      const regranted = await accessToken(consumerId, 'hris', CC_SERVICE);
      expect(regranted).not.toBe(granted);
      // Neither the client secret nor a token ever shows in a response.
      const responses = JSON.stringify([saved, token, await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'hris', serviceId: CC_SERVICE })]);
      for (const secret of [provider.clientSecret, granted, regranted]) expect(responses).not.toContain(secret);

      // validate: required settings missing → 422; unknown connection → 404.
      const emptyConsumer = 'validate-consumer';
      await apideck.vault.connectionsUpdate({ consumerId: emptyConsumer, unifiedApi: 'crm', serviceId: 'pipedrive', connection: { enabled: true } });
      expect((await apideck.vault.connectionsOne({ consumerId: emptyConsumer, unifiedApi: 'crm', serviceId: 'pipedrive' })).data.state).toBe('added');
      expect((await failure(apideck.vault.validateConnectionState({ consumerId: emptyConsumer, unifiedApi: 'crm', serviceId: 'pipedrive', body: {} }))).status).toBe(422);
      expect((await failure(apideck.vault.validateConnectionState({ consumerId: 'nobody', unifiedApi: 'crm', serviceId: 'pipedrive' }))).status).toBe(404);
    });

    it('answers 404 for an unknown service and 400 for an unknown unified API', async () => {
      const unknown = await failure(apideck.vault.connectionsOne({ unifiedApi: 'crm', serviceId: 'no-such-crm' }));
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ status_code: 404, type_name: 'EntityNotFoundError' });
      // A known connector under an API it does not serve.
      expect((await failure(apideck.vault.connectionsOne({ unifiedApi: 'hris', serviceId: 'pipedrive' }))).status).toBe(404);
      expect((await failure(apideck.vault.connectionsOne({ unifiedApi: 'not-an-api', serviceId: 'pipedrive' }))).status).toBe(400);
      expect((await failure(apideck.vault.connectionsUpdate({ unifiedApi: 'crm', serviceId: 'no-such-crm', connection: { enabled: true } }))).status).toBe(404);
    });

    it('deletes a connection (204) and answers 404 the second time', async () => {
      const consumerId = 'delete-consumer';
      await apideck.vault.connectionsUpdate({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive', connection: { settings: { api_key: 'to-delete' } } });
      await expect(apideck.vault.connectionsDelete({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive' })).resolves.toBeUndefined();
      const after = await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive' });
      expect(after.data).toMatchObject({ state: 'available', enabled: false, settings: undefined });
      expect((await apideck.vault.consumersOne({ consumerId })).data.connections).toEqual([]);
      expect((await failure(apideck.vault.connectionsDelete({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive' }))).status).toBe(404);
    });

    it('imports tokens into an OAuth connector', async () => {
      const consumerId = 'import-consumer';
      const imported = await apideck.vault.connectionsImport({
        consumerId,
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        connection: {
          credentials: { access_token: 'sf-access', refresh_token: 'sf-refresh', issued_at: new Date(), expires_in: 3600 },
          settings: { instance_url: 'https://acme.my.salesforce.com' },
          metadata: { region: 'eu' },
        },
      });
      expect(imported.status_code).toBe(200);
      expect(imported.data).toMatchObject({
        id: 'crm+salesforce',
        service_id: 'salesforce',
        auth_type: 'oauth2',
        state: 'callable',
        enabled: true,
        settings: { instance_url: 'https://acme.my.salesforce.com' },
        metadata: { region: 'eu' },
      });
      expect(imported.data.revoke_url).toMatch(new RegExp(`^${coffer.url}/vault/revoke/salesforce/${coffer.appId}\\?state=`));
      expect(JSON.stringify(imported)).not.toMatch(/sf-access|sf-refresh/);
      // (validate would refresh at Salesforce; an imported token is validated against the test provider below.)

      // Without issued_at/expires_in the token is kept too (refreshed on first use).
      const bare = await apideck.vault.connectionsImport({
        consumerId: 'import-consumer-2',
        unifiedApi: 'lead',
        serviceId: 'salesforce',
        connection: { credentials: { access_token: 'only-access' } },
      });
      expect(bare.data).toMatchObject({ id: 'lead+salesforce', unified_api: 'lead', state: 'callable' });

      expect((await failure(apideck.vault.connectionsImport({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive', connection: { credentials: { access_token: 'x' } } }))).status).toBe(400);
      expect((await failure(apideck.vault.connectionsImport({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', connection: { settings: {} } }))).status).toBe(400);

      // validate forces a refresh of an imported token: a refresh token the provider never issued is refused (401)
      // and the connection turns invalid.
      const refreshes = provider.tokenRequests.refresh_token ?? 0;
      const foreign = await apideck.vault.connectionsImport({
        consumerId,
        unifiedApi: 'crm',
        serviceId: CODE_SERVICE,
        connection: { credentials: { access_token: 'foreign-access', refresh_token: 'foreign-refresh', issued_at: new Date(), expires_in: 3600 } },
      });
      expect(foreign.data).toMatchObject({ id: `crm+${CODE_SERVICE}`, state: 'callable' });
      const refused = await failure(apideck.vault.validateConnectionState({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE }));
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ status_code: 401, type_name: 'UnauthorizedError', detail: { type: 'refresh_token_connector_error' } });
      expect(provider.tokenRequests.refresh_token).toBe(refreshes + 1);
      expect((await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE })).data.state).toBe('invalid');
      expect(JSON.stringify(refused.body)).not.toMatch(/foreign-access|foreign-refresh/);
    });

    it('authorization_code: token is a 400; validate refreshes an authorized connection at the provider', async () => {
      const consumerId = 'oauth-consumer';
      const before = await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE });
      expect(before.data).toMatchObject({ state: 'available', auth_type: 'oauth2', oauth_grant_type: 'authorization_code', integration_state: 'configured' });
      const done = await followRedirects(`${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`, (url) => url.origin === 'https://app.example');
      expect(done.url.toString()).toBe(APP_REDIRECT);
      expect(provider.tokenRequests.authorization_code).toBe(1);
      expect((await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE })).data.state).toBe('callable');
      const issued = await accessToken(consumerId, 'crm', CODE_SERVICE);

      // The token grant is for client_credentials/password connectors only.
      const token = await failure(apideck.vault.connectionsToken({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE, body: {} }));
      expect(token.status).toBe(400);
      expect(token.body).toMatchObject({ status_code: 400, error: 'Bad Request', type_name: 'RequestValidationError' });

      const refreshes = provider.tokenRequests.refresh_token ?? 0;
      const validated = await apideck.vault.validateConnectionState({ consumerId, unifiedApi: 'crm', serviceId: CODE_SERVICE, body: {} });
      expect(validated).toMatchObject({ status_code: 200, data: { id: `crm+${CODE_SERVICE}`, state: 'callable' } });
      expect(provider.tokenRequests.refresh_token).toBe(refreshes + 1);
      const refreshed = await accessToken(consumerId, 'crm', CODE_SERVICE);
      expect(refreshed).not.toBe(issued);
      expect(JSON.stringify([before, validated, token.body])).not.toContain(issued);
    });

    it('creates a callback state', async () => {
      const res = await apideck.vault.createCallbackState({
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        createCallbackState: { redirect_uri: 'https://app.example.com/oauth/done' },
      });
      expect(res.status_code).toBe(200);
      expect(res.data.state).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const again = await apideck.vault.createCallbackState({ unifiedApi: 'crm', serviceId: 'salesforce', createCallbackState: { redirect_uri: 'https://app.example.com/x' } });
      expect(again.data.state).not.toBe(res.data.state);

      expect((await failure(apideck.vault.createCallbackState({ unifiedApi: 'crm', serviceId: 'salesforce', createCallbackState: {} }))).status).toBe(400);
      expect((await failure(apideck.vault.createCallbackState({ unifiedApi: 'crm', serviceId: 'salesforce', createCallbackState: { redirect_uri: 'javascript:alert(1)' } }))).status).toBe(400);
      expect((await failure(apideck.vault.createCallbackState({ unifiedApi: 'crm', serviceId: 'no-such-crm', createCallbackState: { redirect_uri: 'https://a.test/' } }))).status).toBe(404);
    });
  });

  describe('resources: settings, custom fields and custom mappings', () => {
    const consumerId = 'resource-consumer';

    it('reads and updates the salesforce leads resource settings', async () => {
      const settings = await apideck.vault.connectionSettingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' });
      expect(settings.status_code).toBe(200);
      expect(settings.data.id).toBe('crm+salesforce');
      expect(settings.data.resource_settings_support).toEqual(expect.arrayContaining(['leads', 'opportunities']));
      expect(settings.data._configuration).toHaveLength(1);
      const leads = settings.data._configuration![0];
      expect(leads.resource).toBe('leads');
      expect(leads.defaults!.map((d) => [d.id, d.value])).toEqual([
        ['default_lead_source', 'Web'],
        ['default_lead_status', 'Open - Not Contacted'],
      ]);
      expect(leads.defaults![0].target).toBe('resource');
      expect(leads.defaults![0].options!.map((o) => o.value)).toContain('Partner Referral');
      const groups = leads.defaults![1].options!;
      expect(groups.map((g) => g.label)).toEqual(['Open', 'Closed']);
      expect(groups[0].options!.map((o) => o.value)).toEqual(['Open - Not Contacted', 'Working - Contacted']);

      const updated = await apideck.vault.connectionSettingsUpdate({
        consumerId,
        unifiedApi: 'crm',
        serviceId: 'salesforce',
        resource: 'leads',
        connection: {
          _configuration: [{ resource: 'leads', defaults: [{ id: 'default_lead_source', value: 'Partner Referral' }, { id: 'default_lead_status', value: 'Working - Contacted' }] }],
        },
      });
      expect(updated.status_code).toBe(200);
      expect(updated.data._configuration!.map((c) => c.resource)).toEqual(['leads']);
      expect(updated.data._configuration![0].defaults!.map((d) => [d.id, d.value])).toEqual([
        ['default_lead_source', 'Partner Referral'],
        ['default_lead_status', 'Working - Contacted'],
      ]);

      const reread = await apideck.vault.connectionSettingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' });
      expect(reread.data._configuration![0].defaults!.map((d) => d.value)).toEqual(['Partner Referral', 'Working - Contacted']);
      // The whole connection carries both resources, the other one still at its defaults.
      const full = await apideck.vault.connectionsOne({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce' });
      const byResource = Object.fromEntries(full.data._configuration!.map((c) => [c.resource, c.defaults!.map((d) => d.value)]));
      expect(byResource).toEqual({ leads: ['Partner Referral', 'Working - Contacted'], opportunities: ['Prospecting', 30] });

      const bad = await failure(
        apideck.vault.connectionSettingsUpdate({
          consumerId,
          unifiedApi: 'crm',
          serviceId: 'salesforce',
          resource: 'leads',
          connection: { _configuration: [{ resource: 'leads', defaults: [{ id: 'default_lead_source', value: 'Carrier Pigeon' }] }] },
        }),
      );
      expect(bad.status).toBe(400);
      expect((await failure(apideck.vault.connectionSettingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'unicorns' }))).status).toBe(404);
      expect((await failure(apideck.vault.connectionSettingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'pipedrive', resource: 'leads' }))).status).toBe(404);
    });

    it('lists the custom fields of salesforce leads', async () => {
      const fields = await apideck.vault.customFieldsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' });
      expect(fields.status_code).toBe(200);
      expect(fields.data.map((f) => f.id)).toEqual(['Industry', 'Rating', 'AnnualRevenue', 'NumberOfEmployees']);
      expect(fields.data[0]).toEqual({ id: 'Industry', name: 'Industry', description: "The lead's primary industry", value: undefined, finder: '$.Industry' });
      const pinned = await apideck.vault.customFieldsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads', resourceId: '00Q5g00000AbCdEEAV' });
      expect(pinned.data.map((f) => f.finder)).toEqual(['$.Industry', '$.Rating', '$.AnnualRevenue', '$.NumberOfEmployees']);
      expect((await failure(apideck.vault.customFieldsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'unicorns' }))).status).toBe(404);
    });

    it('lists custom mappings per connection resource and per service', async () => {
      expect((await apideck.vault.connectionCustomMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads' })).data).toEqual([]);
      expect((await apideck.vault.customMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce' })).data).toEqual([]);

      for (const [target, value] of [
        ['crm+leads+industry', '$.Industry'],
        ['crm+leads+rating', '$.Rating'],
        ['crm+opportunities+next_step', '$.NextStep'],
      ]) {
        const res = await fetch(`${coffer.url}/vault/custom-mappings/crm/salesforce/${target}`, {
          method: 'POST',
          headers: { ...coffer.headers(consumerId), 'content-type': 'application/json' },
          body: JSON.stringify({ value }),
        });
        expect(res.status).toBe(200);
      }

      const leads = await apideck.vault.connectionCustomMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce', resource: 'leads', resourceId: 'x' });
      expect(leads.status_code).toBe(200);
      expect(leads.data.map((m) => [m.id, m.value])).toEqual([
        ['crm+leads+industry', '$.Industry'],
        ['crm+leads+rating', '$.Rating'],
      ]);
      expect(leads.data[0]).toMatchObject({ key: 'industry', consumer_id: consumerId, custom_field: true, required: false });

      const all = await apideck.vault.customMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'salesforce' });
      expect(all.data.map((m) => m.id)).toEqual(['crm+leads+industry', 'crm+leads+rating', 'crm+opportunities+next_step']);
      // Scoped to the consumer and the unified API.
      expect((await apideck.vault.customMappingsAll({ consumerId: 'someone-else', unifiedApi: 'crm', serviceId: 'salesforce' })).data).toEqual([]);
      expect((await apideck.vault.customMappingsAll({ consumerId, unifiedApi: 'lead', serviceId: 'salesforce' })).data).toEqual([]);
      expect((await failure(apideck.vault.customMappingsAll({ consumerId, unifiedApi: 'crm', serviceId: 'no-such-crm' }))).status).toBe(404);
    });
  });

  describe('sessions', () => {
    it('creates a session with defaults and with options', async () => {
      const plain = await apideck.vault.sessionsCreate();
      expect(plain.status_code).toBe(200);
      expect(plain.data.session_uri).toBe(`${coffer.url}/session/${plain.data.session_token}`);
      expect(plain.data.session_uri.startsWith(`${coffer.url}/session/`)).toBe(true);
      const claims = decodeJwtPayload(plain.data.session_token);
      expect(claims).toMatchObject({ application_id: coffer.appId, consumer_id: CONSUMER, settings: { session_length: '1h', show_logs: true } });
      expect(claims.exp - claims.iat).toBe(3600);

      const custom = await apideck.vault.sessionsCreate({
        consumerId: 'session-consumer',
        session: {
          consumer_metadata: { account_name: 'Initech', user_name: 'Peter', email: 'peter@initech.test' },
          redirect_uri: 'https://app.example.com/done',
          settings: { unified_apis: ['crm' as never], session_length: '30m', hide_resource_settings: true },
          theme: { vault_name: 'Initech Vault', primary_color: '#123456' },
          custom_consumer_settings: { tier: 'pro' },
        },
      });
      const c = decodeJwtPayload(custom.data.session_token);
      expect(c).toMatchObject({
        application_id: coffer.appId,
        consumer_id: 'session-consumer',
        consumer_metadata: { account_name: 'Initech', user_name: 'Peter', email: 'peter@initech.test' },
        redirect_uri: 'https://app.example.com/done',
        settings: { unified_apis: ['crm'], session_length: '30m', hide_resource_settings: true, show_sidebar: true },
        theme: { vault_name: 'Initech Vault', primary_color: '#123456' },
        custom_consumer_settings: { tier: 'pro' },
      });
      expect(c.exp - c.iat).toBe(1800);
      // The session upserts the consumer with its metadata.
      expect((await apideck.vault.consumersOne({ consumerId: 'session-consumer' })).data.metadata).toEqual({
        account_name: 'Initech',
        user_name: 'Peter',
        email: 'peter@initech.test',
      });

      // The session token works as the SDK's apiKey, scoped to its consumer; it cannot mint sessions.
      const asSession = new Apideck({ basePath: coffer.url, apiKey: custom.data.session_token, appId: coffer.appId });
      const listed = await asSession.vault.connectionsAll();
      expect(listed.data.find((x) => x.id === 'crm+salesforce')!.authorize_url).toMatch(/\?state=/);
      expect((await failure(asSession.vault.sessionsCreate())).status).toBe(403);
      expect((await failure(asSession.vault.consumersAll())).status).toBe(403);

      expect((await failure(apideck.vault.sessionsCreate({ session: { settings: { session_length: '2w' } } }))).status).toBe(400);
      expect((await failure(apideck.vault.sessionsCreate({ session: { redirect_uri: 'not a url' } }))).status).toBe(400);
    });
  });

  describe('logs', () => {
    it('returns the calls made by the consumer, with filters and paging', async () => {
      const consumerId = 'log-consumer';
      const sdk = new Apideck({ basePath: coffer.url, apiKey: coffer.apiKey, appId: coffer.appId, consumerId });
      await sdk.vault.connectionsAll();
      await sdk.vault.connectionsUpdate({ unifiedApi: 'crm', serviceId: 'pipedrive', connection: { settings: { api_key: 'log-key' } } });
      // Consumer endpoints belong to the consumer in the path, whatever x-apideck-consumer-id the SDK sends along.
      await sdk.vault.consumersAdd({ consumer: { consumer_id: 'log-other' } });
      await sdk.vault.consumersOne({ consumerId: 'log-other' });
      expect((await failure(sdk.vault.connectionsToken({ unifiedApi: 'crm', serviceId: 'pipedrive' }))).status).toBe(400);
      expect((await failure(sdk.vault.connectionsOne({ unifiedApi: 'crm', serviceId: 'no-such-crm' }))).status).toBe(404);
      await sdk.vault.connectionsDelete({ unifiedApi: 'crm', serviceId: 'pipedrive' });

      const expected = [
        ['connectionsAll', 'GET', '/vault/connections', 200, 'vault'],
        ['connectionsUpdate', 'PATCH', '/vault/connections/crm/pipedrive', 200, 'pipedrive'],
        ['connectionsToken', 'POST', '/vault/connections/crm/pipedrive/token', 400, 'pipedrive'],
        ['connectionsOne', 'GET', '/vault/connections/crm/no-such-crm', 404, 'no-such-crm'],
        ['connectionsDelete', 'DELETE', '/vault/connections/crm/pipedrive', 204, 'pipedrive'],
      ];
      const calls = <T extends { operation: { id: string } }>(data: T[]) => data.filter((l) => l.operation.id !== 'logsAll');
      // The last call's log row is written right after its response; wait until it is there.
      const logs = await vi.waitFor(async () => {
        const res = await sdk.vault.logsAll({ limit: 50 });
        expect(calls(res.data)).toHaveLength(expected.length);
        return res;
      }, { timeout: 5000, interval: 50 });
      expect(logs.status_code).toBe(200);
      const made = calls(logs.data);
      // Newest first.
      const times = made.map((l) => Date.parse(l.timestamp));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      const summary = made.map((l) => [l.operation.id, l.http_method, l.path, l.status_code, l.service.id]);
      expect([...summary].sort()).toEqual([...expected].sort());
      for (const log of made) {
        expect(log).toMatchObject({ consumer_id: consumerId, unified_api: 'vault', api_style: 'REST', child_request: false, has_children: false, sandbox: false });
        expect(log.success).toBe(log.status_code < 400);
        expect(log.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
        expect(typeof log.operation.name).toBe('string');
      }

      // The consumer endpoints were logged for the consumer in the path.
      const other = await sdk.vault.logsAll({ consumerId: 'log-other' });
      expect(other.data.map((l) => [l.operation.id, l.path])).toContainEqual(['consumersOne', '/vault/consumers/log-other']);

      const pipedriveOnly = await sdk.vault.logsAll({ filter: { connector_id: 'crm+pipedrive' } });
      expect(pipedriveOnly.data.map((l) => l.operation.id).sort()).toEqual(['connectionsDelete', 'connectionsToken', 'connectionsUpdate']);
      const failed = await sdk.vault.logsAll({ filter: { status_code: 404 } });
      expect(failed.data.map((l) => l.operation.id)).toEqual(['connectionsOne']);
      expect((await sdk.vault.logsAll({ filter: { exclude_unified_apis: 'vault' } })).data).toEqual([]);

      // Paging: limit + cursor walk the same entries without overlap.
      const first = await sdk.vault.logsAll({ limit: 2 });
      expect(first.data).toHaveLength(2);
      expect(first.meta!.items_on_page).toBe(2);
      const next = first.meta!.cursors!.next!;
      expect(typeof next).toBe('string');
      expect(first.links!.next).toContain(`cursor=${encodeURIComponent(next)}`);
      const second = await sdk.vault.logsAll({ limit: 2, cursor: next });
      expect(second.data).toHaveLength(2);
      expect(second.meta!.cursors!.current).toBe(next);
      const firstIds = first.data.map((l) => l.id);
      for (const log of second.data) {
        expect(firstIds).not.toContain(log.id);
        expect(log.id < firstIds[1]).toBe(true);
      }

      expect((await failure(sdk.vault.logsAll({ filter: { status_code: 99 } }))).status).toBe(400);
      expect((await failure(noConsumer.vault.logsAll())).status).toBe(400);
    });
  });
});
