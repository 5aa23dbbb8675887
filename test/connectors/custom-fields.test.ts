// `GET …/{resource}/custom-fields` with live discovery against a REAL upstream (an http server on 127.0.0.1 serving
// a JSON document of field descriptions): the declared fields plus those found with the consumer's credentials, for an
// API-key connector and for an OAuth connector whose token comes from a real authorization-code flow.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson } from '../support/envelope.js';
import { followRedirects, oauthConnectorFor, startProvider, type TestProvider } from '../support/oidc.js';
import { connectorCheck, startUpstream, writeConnectorDir, type TestUpstream } from '../support/upstream.js';

const APP_REDIRECT = 'https://app.example/oauth/done';

/** What the upstream serves at `…/fields`. */
const FIELDS_DOCUMENT = {
  fields: [
    { key: 'cf_score', label: 'Lead score', help: 'From 0 to 100', custom: true },
    { key: 'cf_region', label: 'Region', custom: true },
    { key: 'email', label: 'Email', help: 'Built in', custom: false },
    { key: 42, label: 'Numeric id', help: 7, custom: true },
    { label: 'Has no key', custom: true },
  ],
};

function connectors(upstream: string, issuer: string) {
  return [
    {
      id: 'cf-apikey',
      name: 'Fields API key',
      website: 'https://fields-apikey.example',
      unified_apis: ['crm'],
      auth_type: 'apiKey',
      form_fields: [
        { id: 'tenant', label: 'Tenant', type: 'text', required: true },
        { id: 'api_key', label: 'API key', type: 'password', required: true, sensitive: true },
      ],
      proxy: { base_url: `${upstream}/bearer/{tenant}/v1`, auth: { type: 'bearer', value: '{api_key}' } },
      verification: { path: '/me' },
      resources: {
        leads: {
          name: 'Leads',
          custom_fields: [
            { id: 'industry', name: 'Industry', description: 'Declared in the connector', finder: '$.Industry' },
            // Also discovered: the live description wins.
            { id: 'cf_score', name: 'Score (declared)', finder: '$.score' },
          ],
          custom_fields_discovery: {
            path: '/fields?object=lead',
            items: '$.fields[?(@.custom)]',
            id: '$.key',
            name: '$.label',
            description: '$.help',
            finder: '$.custom_fields.{id}',
          },
        },
        contacts: { custom_fields: [{ id: 'nickname', name: 'Nickname', finder: '$.nick' }] },
      },
    },
    {
      ...oauthConnectorFor(issuer, { id: 'cf-oauth', name: 'Fields OAuth', apiBaseUrl: `${upstream}/oauth/api` }),
      resources: {
        leads: {
          custom_fields_discovery: { method: 'POST', path: '/fields', items: '$.fields[*]', id: '$.key', name: '$.label', finder: '$.properties.{id}' },
        },
      },
    },
  ];
}

const field = (id: string, name: string | null, description: string | null, finder: string) => ({ id, name, description, value: null, finder });

describe('the connector files of these tests', () => {
  it('are accepted by `coffer connector check DIR` (built CLI), and a broken discovery is not', async () => {
    const files = connectors('http://127.0.0.1:4010', 'http://127.0.0.1:4020');
    const good = writeConnectorDir('coffer-fields-check-', files);
    const broken = writeConnectorDir('coffer-fields-broken-', [
      { ...files[0], resources: { leads: { custom_fields_discovery: { path: '/fields', items: 'fields', id: '$.key', finder: '$.{id}' } } } },
    ]);
    try {
      const [ok, bad] = await Promise.all([connectorCheck(good), connectorCheck(broken)]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toEqual({ valid: true, connectors: ['cf-apikey', 'cf-oauth'] });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain(path.join(broken, 'cf-apikey.yaml'));
      expect(bad.stderr).toContain('resources.leads.custom_fields_discovery.items');
    } finally {
      fs.rmSync(good, { recursive: true, force: true });
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });
});

describe.each(backends)('custom fields discovered live at a real upstream (%s)', (backend) => {
  let upstream: TestUpstream;
  let provider: TestProvider;
  let coffer: TestCoffer;
  let dir: string;

  const fieldsUrl = (serviceId: string, resource: string) => `${coffer.url}/vault/connections/crm/${serviceId}/${resource}/custom-fields`;
  const getFields = (consumer: string, serviceId: string, resource = 'leads') => fetch(fieldsUrl(serviceId, resource), { headers: coffer.headers(consumer) });
  async function connectApiKey(consumer: string, apiKey: string): Promise<void> {
    upstream.accepted.add(apiKey);
    const res = await fetch(`${coffer.url}/vault/connections/crm/cf-apikey`, {
      method: 'PATCH',
      headers: { ...coffer.headers(consumer), 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { tenant: 'acme', api_key: apiKey } }),
    });
    expect((await okJson(res)).data.state).toBe('callable');
    upstream.take();
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    upstream.fields = FIELDS_DOCUMENT;
    provider = await startProvider();
    dir = writeConnectorDir('coffer-fields-', connectors(upstream.url, provider.issuer));
    coffer = await startCoffer(backend, {
      COFFER_CONNECTORS_DIR: dir,
      COFFER_VERIFY_CREDENTIALS: 'true',
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
    });
    provider.init([`${coffer.url}/vault/callback`]);
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, 'cf-oauth', true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('apiKey connector: the declared fields plus those discovered with the consumer key', async () => {
    await connectApiKey('alice', 'key-alice');
    const body = await okJson(await getFields('alice', 'cf-apikey'));
    expect(body.data).toEqual([
      field('industry', 'Industry', 'Declared in the connector', '$.Industry'),
      field('cf_score', 'Lead score', 'From 0 to 100', '$.custom_fields.cf_score'),
      field('cf_region', 'Region', null, '$.custom_fields.cf_region'),
      field('42', 'Numeric id', null, '$.custom_fields.42'),
    ]);
    const seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/bearer/acme/v1/fields', search: 'object=lead', credential: 'key-alice' });
    expect(seen[0].headers.authorization).toBe('Bearer key-alice');
  });

  it('a resource without discovery answers its declared fields without calling the provider', async () => {
    upstream.take();
    for (const consumer of ['alice', 'nobody']) {
      const body = await okJson(await getFields(consumer, 'cf-apikey', 'contacts'));
      expect(body.data).toEqual([field('nickname', 'Nickname', null, '$.nick')]);
    }
    expect(upstream.take()).toEqual([]);
  });

  it('no connection → 404, and the provider is not called', async () => {
    upstream.take();
    const { body } = await expectErrorEnvelope(await getFields('nobody', 'cf-apikey'), 404, 'EntityNotFoundError');
    expect(body.detail).toEqual({ not_found: { entity: 'connection', id: 'crm+cf-apikey' } });
    await expectErrorEnvelope(await getFields('nobody', 'cf-oauth'), 404, 'EntityNotFoundError');
    await expectErrorEnvelope(await getFields('alice', 'cf-apikey', 'no-such-resource'), 404, 'EntityNotFoundError');
    expect(upstream.take()).toEqual([]);
  });

  it('a 401 from the provider → 422 InvalidCredentialsError with its message, never the key', async () => {
    await connectApiKey('bob', 'key-bob-revoked');
    upstream.accepted.delete('key-bob-revoked');
    upstream.rejectMessage = (credential) => `Credential ${credential} is revoked`;
    try {
      const { body, text } = await expectErrorEnvelope(await getFields('bob', 'cf-apikey'), 422, 'InvalidCredentialsError');
      expect(body.detail).toMatch(/^Credential .* is revoked$/);
      expect(body.message).toContain('401');
      expect(text).not.toContain('key-bob-revoked');
      expect(upstream.take().map((r) => r.credential)).toEqual(['key-bob-revoked']);
    } finally {
      upstream.rejectMessage = () => 'The API credentials are not valid';
    }
  });

  it('a provider error → 502 ConnectorExecutionError with its message', async () => {
    await connectApiKey('carol', 'key-carol');
    upstream.failWith = { status: 500, message: 'Field service down' };
    try {
      const { body } = await expectErrorEnvelope(await getFields('carol', 'cf-apikey'), 502, 'ConnectorExecutionError');
      expect(body.detail).toBe('Field service down');
      expect(body.message).toContain('500');
    } finally {
      upstream.failWith = null;
    }
  });

  it('OAuth connector: after the real flow the provider receives Bearer <the access token>', async () => {
    const headers = coffer.headers('olivia');
    const before = await okJson(await fetch(`${coffer.url}/vault/connections/crm/cf-oauth`, { headers }));
    expect(before.data.state).toBe('available');
    const done = await followRedirects(`${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`, (url) => url.origin === 'https://app.example');
    expect(done.url.toString()).toBe(APP_REDIRECT);
    const after = await okJson(await fetch(`${coffer.url}/vault/connections/crm/cf-oauth`, { headers }));
    expect(after.data.state).toBe('callable');
    const { access_token: token } = (await okJson(await fetch(`${coffer.url}/vault/connections/crm/cf-oauth/credentials`, { headers }))).data;
    expect(token).toEqual(expect.any(String));

    // The upstream accepts exactly this token.
    upstream.accepted.add(token);
    upstream.take();
    const body = await okJson(await getFields('olivia', 'cf-oauth'));
    expect(body.data).toEqual([
      field('cf_score', 'Lead score', null, '$.properties.cf_score'),
      field('cf_region', 'Region', null, '$.properties.cf_region'),
      field('email', 'Email', null, '$.properties.email'),
      field('42', 'Numeric id', null, '$.properties.42'),
    ]);
    const seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/oauth/api/fields', search: '' });
    expect(seen[0].headers.authorization).toBe(`Bearer ${token}`);

    // Once the provider no longer accepts it: 422 with the provider's words, the token never echoed.
    upstream.accepted.delete(token);
    upstream.rejectMessage = (credential) => `Token ${credential} has expired`;
    try {
      const { body: refused, text } = await expectErrorEnvelope(await getFields('olivia', 'cf-oauth'), 422, 'InvalidCredentialsError');
      expect(refused.detail).toMatch(/^Token .* has expired$/);
      expect(text).not.toContain(token);
      expect(upstream.take().map((r) => r.headers.authorization)).toEqual([`Bearer ${token}`]);
    } finally {
      upstream.rejectMessage = () => 'The API credentials are not valid';
    }
  });
});

