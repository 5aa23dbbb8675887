// Secrets stored through the API must never reach the storage (or any API response) in the clear.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, setConnectorEnabled } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { leaks, rawStorage as rawStorageOf } from '../support/raw-storage.js';

const distinct = (label: string) => `${label}-${crypto.randomBytes(18).toString('base64url')}`;

describe.each(backends)('secrets at rest (%s)', (backend) => {
  let coffer: TestCoffer;
  const consumer = distinct('consumer');
  const secrets = {
    pipedriveApiKey: distinct('pipedrive-key'),
    zendeskApiKey: distinct('zendesk-key'),
    hubspotAccessToken: distinct('hubspot-at'),
    hubspotRefreshToken: distinct('hubspot-rt'),
    salesforceAccessToken: distinct('salesforce-at'),
    salesforceRefreshToken: distinct('salesforce-rt'),
    hubspotClientSecret: distinct('hubspot-client-secret'),
    /** A consumer's own OAuth client, on a connector that asks for one (its field is not flagged sensitive). */
    consumerClientSecret: distinct('consumer-client-secret'),
    /** Offered to a connector that does not ask for it: refused, so never stored. */
    undeclaredClientSecret: distinct('undeclared-client-secret'),
    salesforceClientSecret: distinct('salesforce-client-secret'),
    apiKey: '', // the application's own API key, filled in beforeAll
    secondApiKey: '',
  };
  const clear = {
    subdomain: `acme${crypto.randomBytes(6).toString('hex')}`,
    email: `agent-${crypto.randomBytes(6).toString('hex')}@example.com`,
  };
  const responses: string[] = [];

  async function call(method: string, url: string, body?: unknown): Promise<{ status: number; text: string; json: any }> {
    const res = await fetch(`${coffer.url}${url}`, {
      method,
      headers: { ...coffer.headers(consumer), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    responses.push(text);
    return { status: res.status, text, json: text ? JSON.parse(text) : null };
  }

  /** Every byte stored, checked to really cover the store (the WAL on SQLite, every table on PostgreSQL). */
  async function rawStorage(): Promise<Buffer> {
    const dump = await rawStorageOf(coffer);
    if (backend === 'sqlite') expect(fs.existsSync(path.join(coffer.dataDir, 'coffer.db-wal'))).toBe(true);
    else {
      const tables = new Set(dump.toString('utf8').split('\n').map((line) => line.slice(0, line.indexOf(': '))));
      expect([...tables]).toEqual(expect.arrayContaining(['connections', 'app_connectors', 'api_keys', 'outbox', 'request_logs']));
    }
    return dump;
  }

  beforeAll(async () => {
    const connectorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-byo-client-'));
    fs.writeFileSync(
      path.join(connectorsDir, 'byo-client.yaml'),
      [
        'id: byo-client',
        'name: Bring Your Own Client',
        'website: https://byo-client.example',
        'unified_apis: [crm]',
        'auth_type: oauth2',
        'oauth:',
        '  grant_type: authorization_code',
        '  authorization_url: https://byo-client.example/oauth/authorize',
        '  token_url: https://byo-client.example/oauth/token',
        'form_fields:',
        '  - { id: client_id, label: Client ID, type: text, required: true }',
        // A secret by its name: sealed and masked although the file does not say `sensitive`.
        '  - { id: client_secret, label: Client secret, type: text, required: true }',
        'settings_required_for_authorization: [client_id, client_secret]',
        '',
      ].join('\n'),
    );
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: connectorsDir });
    secrets.apiKey = coffer.apiKey;
    secrets.secondApiKey = (await createApiKey(coffer.runtime.ctx, coffer.appId)).api_key;

    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, 'hubspot', true, {
      clientId: 'hubspot-client-id',
      clientSecret: secrets.hubspotClientSecret,
      scopes: ['oauth', 'crm.objects.contacts.read'],
    });
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, 'salesforce', true, {
      clientId: 'salesforce-client-id',
      clientSecret: secrets.salesforceClientSecret,
    });

    const pipedrive = await call('PATCH', '/vault/connections/crm/pipedrive', { settings: { api_key: secrets.pipedriveApiKey } });
    expect(pipedrive.status, pipedrive.text).toBe(200);
    // Written twice: an update must not leave the earlier value behind either.
    const pipedrive2 = await call('PATCH', '/vault/connections/crm/pipedrive', { enabled: true, settings: { api_key: secrets.pipedriveApiKey } });
    expect(pipedrive2.status, pipedrive2.text).toBe(200);

    const zendesk = await call('PATCH', '/vault/connections/customer-support/zendesk', {
      settings: { subdomain: clear.subdomain, email: clear.email, api_key: secrets.zendeskApiKey },
    });
    expect(zendesk.status, zendesk.text).toBe(200);
    expect(zendesk.json.data.state).toBe('callable');

    const hubspot = await call('POST', '/vault/connections/crm/hubspot/import', {
      credentials: { access_token: secrets.hubspotAccessToken, refresh_token: secrets.hubspotRefreshToken, expires_in: 3600 },
    });
    expect(hubspot.status, hubspot.text).toBe(200);

    const byo = await call('PATCH', '/vault/connections/crm/byo-client', { settings: { client_id: 'consumer-client-id', client_secret: secrets.consumerClientSecret } });
    expect(byo.status, byo.text).toBe(200);
    expect(byo.json.data.settings).toEqual({ client_id: 'consumer-client-id', client_secret: '********' });

    // A connector without a client form: the consumer's client secret is refused, nothing is stored.
    const undeclared = await call('PATCH', '/vault/connections/crm/salesforce', { settings: { client_id: 'x', client_secret: secrets.undeclaredClientSecret } });
    expect(undeclared.status, undeclared.text).toBe(400);
    expect(undeclared.json.message).toContain('"client_secret"');

    const salesforce = await call('POST', '/vault/connections/crm/salesforce/import', {
      credentials: { access_token: secrets.salesforceAccessToken, refresh_token: secrets.salesforceRefreshToken },
      settings: { instance_url: `https://${clear.subdomain}.my.salesforce.com` },
    });
    expect(salesforce.status, salesforce.text).toBe(200);

    // Read everything back (these requests also produce request logs and counters).
    for (const url of [
      '/vault/connections',
      '/vault/connections/crm/pipedrive',
      '/vault/connections/customer-support/zendesk',
      '/vault/connections/crm/hubspot',
      '/vault/connections/crm/salesforce',
      '/vault/connections/crm/byo-client',
      `/vault/consumers/${consumer}`,
    ]) {
      const res = await call('GET', url);
      expect(res.status, `${url}: ${res.text}`).toBe(200);
    }
    // The Hosted Vault's reads, with the consumer's session token.
    const session = await call('POST', '/vault/sessions', {});
    expect(session.status, session.text).toBe(200);
    for (const url of ['/vault/connections', '/vault/connections/crm/byo-client']) {
      const res = await fetch(`${coffer.url}${url}`, { headers: { authorization: `Bearer ${session.json.data.session_token}`, 'x-apideck-auth-type': 'JWT' } });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      responses.push(text);
    }
  });

  afterAll(async () => coffer?.close());

  it('stored every secret (the server reads them back)', async () => {
    // The connection views say the secrets are set, without showing them.
    const list = await call('GET', '/vault/connections');
    const byId = new Map<string, any>(list.json.data.map((c: any) => [c.id, c]));
    expect(byId.get('crm+pipedrive').state).toBe('callable');
    expect(byId.get('crm+pipedrive').settings.api_key).toBe('********');
    expect(byId.get('customer-support+zendesk').settings).toMatchObject({ subdomain: clear.subdomain, email: clear.email, api_key: '********' });
    expect(byId.get('crm+hubspot').integration_state).toBe('configured');
    expect(byId.get('crm+hubspot').state).toBe('callable');
    expect(byId.get('crm+salesforce').integration_state).toBe('configured');
    // And the domain can open them.
    const rows = await coffer.runtime.store.db.selectFrom('connections').selectAll().where('application_id', '=', coffer.appId).execute();
    const { decodeConnection } = await import('../../src/store/connection-record.js');
    const decoded = new Map(await Promise.all(rows.map(async (r) => [r.service_id, await decodeConnection(coffer.runtime.ctx.keyring, r)] as const)));
    expect(decoded.get('pipedrive')!.settings.api_key).toBe(secrets.pipedriveApiKey);
    expect(decoded.get('zendesk')!.settings.api_key).toBe(secrets.zendeskApiKey);
    expect(decoded.get('hubspot')!.credentials).toMatchObject({ access_token: secrets.hubspotAccessToken, refresh_token: secrets.hubspotRefreshToken });
    expect(decoded.get('byo-client')!.settings).toEqual({ client_id: 'consumer-client-id', client_secret: secrets.consumerClientSecret });
    expect(decoded.get('salesforce')!.settings).not.toHaveProperty('client_secret');
    expect(decoded.get('salesforce')!.credentials).toMatchObject({ access_token: secrets.salesforceAccessToken, refresh_token: secrets.salesforceRefreshToken });
  });

  it('the raw storage holds none of the secrets, in any encoding', async () => {
    const dump = await rawStorage();
    expect(leaks(dump, secrets)).toEqual([]);
  });

  it('the raw-storage check would catch a leak: non-secret settings ARE in the same dump', async () => {
    const dump = await rawStorage();
    expect(dump.includes(clear.subdomain)).toBe(true);
    expect(dump.includes(clear.email)).toBe(true);
    expect(dump.includes(consumer)).toBe(true);
    // and the detector itself flags a plain value
    expect(leaks(dump, { subdomain: clear.subdomain })).not.toEqual([]);
  });

  it('no API response shows a secret (connections, consumer, logs)', async () => {
    const logs = await call('GET', '/vault/logs?limit=200');
    expect(logs.status, logs.text).toBe(200);
    expect(logs.json.data.length).toBeGreaterThan(0);
    const consumerView = await call('GET', `/vault/consumers/${consumer}`);
    expect(consumerView.status).toBe(200);
    expect(consumerView.text).toContain('pipedrive');
    const connections = await call('GET', '/vault/connections');
    expect(connections.text).toContain(clear.subdomain);
    for (const text of [logs.text, consumerView.text, connections.text, ...responses]) {
      expect(leaks(text, secrets)).toEqual([]);
    }
  });

  it('the outbox payloads hold no secret', async () => {
    const rows = await coffer.runtime.store.db.selectFrom('outbox').select(['event_type', 'payload']).where('application_id', '=', coffer.appId).execute();
    expect(rows.length).toBeGreaterThan(0);
    const text = rows.map((r) => (typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload))).join('\n');
    expect(text).toContain(clear.subdomain);
    expect(leaks(text, secrets)).toEqual([]);
  });
});
