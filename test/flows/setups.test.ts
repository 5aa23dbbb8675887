// Every app_id × setup type over raw HTTP: a valid setup is stored (sealed, opened back unchanged) and shown only as a
// masked account name; one invalid variant of each is a 400 naming the field, and writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSetup } from '../../src/flows/connection-secrets.js';
import { findFlowsConnection } from '../../src/store/flows-connections.js';
import { FLOWS_APP_IDS } from '../../src/flows/setup-schemas.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectAuth0Error, expectConnectionShape, flowsCall, managementToken, type Json } from '../support/flows.js';
import { startProvider, type TestProvider } from '../support/oidc.js';

interface SetupCase {
  app: string;
  setup: Json;
  /** Expected account_name; null = none. */
  account: string | null | ((provider: TestProvider) => string);
  invalid: Json | string;
  /** What the 400 message must name. */
  names: string;
}

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';

/** Setup fields that hold a secret (a webhook URL carries one in its path); none may come back whole. */
const SECRET_FIELDS = ['api_key', 'secret_key', 'token', 'password', 'value', 'client_secret', 'private_key', 'public_key', 'code', 'secret', 'url'];

function cases(provider: () => TestProvider): SetupCase[] {
  const list: SetupCase[] = [
    { app: 'ACTIVECAMPAIGN', setup: { type: 'API_KEY', api_key: 'ac-key-0123456789', base_url: 'https://acme.api-us1.com' }, account: 'acme.api-us1.com', invalid: { type: 'API_KEY', api_key: 'ac-key-0123456789', base_url: 'http://acme.api-us1.com' }, names: 'setup.base_url' },
    { app: 'AIRTABLE', setup: { type: 'API_KEY', api_key: 'patAIRTABLE0123456' }, account: 'pat***456', invalid: { type: 'API_KEY' }, names: 'api_key' },
    { app: 'AUTH0', setup: { type: 'OAUTH_APP', client_id: 'm2m-client', client_secret: 'placeholder', domain: 'tenant.example.com', audience: 'https://api.example.com/' }, account: 'tenant.example.com', invalid: { type: 'OAUTH_APP', client_id: 'm2m-client', client_secret: 'x-secret', domain: 'https://tenant.example.com' }, names: 'setup.domain' },
    { app: 'BIGQUERY', setup: { type: 'OAUTH_JWT', project_id: 'analytics-1', private_key: PEM, client_email: 'svc@analytics-1.iam.gserviceaccount.com' }, account: 'svc@analytics-1.iam.gserviceaccount.com', invalid: { type: 'OAUTH_JWT', project_id: 'analytics-1', client_email: 'not-an-email' }, names: 'setup.client_email' },
    { app: 'CLEARBIT', setup: { type: 'API_KEY', secret_key: 'sk_clearbit_0123456' }, account: 'sk_***456', invalid: { type: 'API_KEY', api_key: 'sk_clearbit_0123456' }, names: 'secret_key' },
    { app: 'DOCUSIGN', setup: { type: 'OAUTH_CODE', code: 'docusign-code-0123' }, account: null, invalid: { type: 'OAUTH_CODE', code: 12345 }, names: 'setup.code' },
    { app: 'GOOGLE_SHEETS', setup: { type: 'OAUTH_CODE', code: 'sheets-code-0123' }, account: null, invalid: { type: 'TOKEN', token: 'sheets-token' }, names: 'setup.type' },
    { app: 'HTTP', setup: { type: 'BEARER', token: 'my-token' }, account: 'Bearer my-***ken', invalid: { type: 'BEARER', token: 'my-token', header: 'X-Auth' }, names: 'header' },
    { app: 'HTTP', setup: { type: 'BASIC_AUTH', username: 'svc-user', password: 'pw-0123456789' }, account: 'Basic svc-user', invalid: { type: 'BASIC_AUTH', username: 'u'.repeat(156) }, names: 'setup.username' },
    { app: 'HTTP', setup: { type: 'API_KEY', name: 'api_key', value: 'query-key-0123456', in: 'QUERY' }, account: 'api_key que***456', invalid: { type: 'API_KEY', name: 'X-Key', value: 'v-0123456789', in: 'COOKIE' }, names: 'setup.in' },
    {
      app: 'HTTP',
      setup: { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: 'placeholder', client_secret: 'placeholder', token_endpoint: 'placeholder', scope: 'api' },
      account: (p) => `${p.clientId} @ ${new URL(p.issuer).host}`,
      invalid: { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: 'c', client_secret: 's', token_endpoint: 'ftp://tokens.example.com/token' },
      names: 'setup.token_endpoint',
    },
    { app: 'HUBSPOT', setup: { type: 'API_KEY', api_key: 'pat-na1-0123456789' }, account: 'pat***789', invalid: { type: 'API_KEY', api_key: '' }, names: 'setup.api_key' },
    { app: 'HUBSPOT', setup: { type: 'OAUTH_CODE', code: 'hubspot-code-0123' }, account: null, invalid: { code: 'hubspot-code-0123' }, names: 'type' },
    { app: 'JWT', setup: { type: 'JWT', algorithm: 'HS256', secret: 'jwt-signing-secret-0123' }, account: 'JWT HS256', invalid: { type: 'JWT', algorithm: 'none', secret: 'jwt-signing-secret-0123' }, names: 'setup.algorithm' },
    { app: 'MAILCHIMP', setup: { type: 'API_KEY', secret_key: 'mc-secret-0123456-us21' }, account: 'mc-***s21', invalid: { type: 'API_KEY' }, names: 'secret_key' },
    { app: 'MAILCHIMP', setup: { type: 'OAUTH_CODE', code: 'mailchimp-code-0123' }, account: null, invalid: { type: 'OAUTH_CODE', code: ['a', 'b'] }, names: 'setup.code' },
    { app: 'MAILJET', setup: { type: 'API_KEY', api_key: 'mj-public-0123456', secret_key: 'mj-secret-0123456' }, account: 'mj-***456', invalid: { type: 'API_KEY', api_key: 'mj-public-0123456' }, names: 'secret_key' },
    { app: 'PIPEDRIVE', setup: { type: 'TOKEN', token: 'pipedrive-token-0123' }, account: 'pip***123', invalid: { type: 'TOKEN', token: null }, names: 'setup.token' },
    { app: 'PIPEDRIVE', setup: { type: 'OAUTH_CODE', code: 'pipedrive-code-0123' }, account: null, invalid: 'OAUTH_CODE', names: 'setup' },
    { app: 'SALESFORCE', setup: { type: 'OAUTH_CODE', code: 'salesforce-code-0123' }, account: null, invalid: { type: 'OAUTH_APP', code: 'salesforce-code-0123' }, names: 'setup.type' },
    { app: 'SENDGRID', setup: { type: 'API_KEY', api_key: 'SG.sendgrid-0123456' }, account: 'SG.***456', invalid: { type: 'API_KEY', secret_key: 'SG.sendgrid-0123456' }, names: 'api_key' },
    { app: 'SLACK', setup: { type: 'WEBHOOK', url: 'https://hooks.slack.com/services/T0/B0/secretpath' }, account: 'hooks.slack.com', invalid: { type: 'WEBHOOK', url: 'not a url' }, names: 'setup.url' },
    { app: 'SLACK', setup: { type: 'OAUTH_CODE', code: 'slack-code-0123', redirect_uri: 'https://example.com/cb' }, account: null, invalid: { type: 'OAUTH_CODE', code: '' }, names: 'setup.code' },
    { app: 'STRIPE', setup: { type: 'KEY_PAIR', private_key: 'sk_test_0123456789', public_key: 'pk_test_0123456789' }, account: 'pk_***789', invalid: { type: 'KEY_PAIR', private_key: 'sk_test_0123456789' }, names: 'public_key' },
    { app: 'STRIPE', setup: { type: 'OAUTH_CODE', code: 'stripe-code-0123' }, account: null, invalid: { type: 'OAUTH_CODE', code: { nested: true } }, names: 'setup.code' },
    { app: 'TELEGRAM', setup: { type: 'TOKEN', token: '123456:telegram-bot-token' }, account: '123***ken', invalid: { type: 'TOKEN', token: '123456:telegram-bot-token', chat_id: '42' }, names: 'chat_id' },
    { app: 'TWILIO', setup: { type: 'API_KEY', account_id: 'AC0123456789abcdef', api_key: 'twilio-key-0123456' }, account: 'AC0123456789abcdef', invalid: { type: 'API_KEY', api_key: 'twilio-key-0123456' }, names: 'account_id' },
    { app: 'WHATSAPP', setup: { type: 'TOKEN', token: 'EAAG-whatsapp-0123456' }, account: 'EAA***456', invalid: { type: 'TOKEN', token: 123456 }, names: 'setup.token' },
    { app: 'ZAPIER', setup: { type: 'WEBHOOK', url: 'https://hooks.zapier.com/hooks/catch/1/abc/' }, account: 'hooks.zapier.com', invalid: { type: 'WEBHOOK', url: 'http://hooks.zapier.com/hooks/catch/1/abc/' }, names: 'setup.url' },
  ];
  return list.map((c) => ({ ...c, setup: withProvider(c.setup, provider) }));
}

/** OAuth setups need a live token endpoint: the test provider's (its client, its secret). */
function withProvider(setup: Json, provider: () => TestProvider): Json {
  if (setup.type === 'OAUTH_CLIENT_CREDENTIALS') {
    return { get client_id() { return provider().clientId; }, get client_secret() { return provider().clientSecret; }, get token_endpoint() { return `${provider().issuer}/token`; }, type: setup.type, scope: setup.scope };
  }
  if (setup.type === 'OAUTH_APP') {
    return { ...setup, get client_id() { return provider().clientId; }, get client_secret() { return provider().clientSecret; } };
  }
  return setup;
}

const materialise = (setup: Json): Json => JSON.parse(JSON.stringify(setup));

describe.each(backends)('Flows Vault setups, app by app (%s)', (backend) => {
  let coffer: TestCoffer;
  let provider: TestProvider;
  let token: string;
  const all = cases(() => provider);

  const count = async () => (await flowsCall(coffer, token, 'GET', '?include_totals=true&per_page=1')).json.total as number;

  beforeAll(async () => {
    provider = await startProvider();
    provider.init(['http://127.0.0.1/unused']);
    coffer = await startCoffer(backend, {
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_FLOWS_AUTH0_TOKEN_URL: `${provider.issuer}/token`,
    });
    token = await managementToken(coffer);
  });

  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
  });

  it('covers every app_id and every setup type the contract lists', () => {
    expect([...new Set(all.map((c) => c.app))].sort()).toEqual([...FLOWS_APP_IDS].sort());
    expect(all.length).toBe(29);
  });

  it.each(all.map((c) => [`${c.app} ${c.setup.type}`, c] as const))('%s: valid setup is stored sealed and shown masked', async (_label, c) => {
    const setup = materialise(c.setup);
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: c.app, name: `${c.app} connection`, setup });
    expect(res.status, res.text).toBe(201);
    expectConnectionShape(res.json);
    const expectedAccount = typeof c.account === 'function' ? c.account(provider) : c.account;
    expect(res.json).toMatchObject({ app_id: c.app, name: `${c.app} connection`, ready: true });
    if (expectedAccount === null) expect(res.json).not.toHaveProperty('account_name');
    else expect(res.json.account_name).toBe(expectedAccount);
    // Only OAuth setups obtain (and so refresh) a token.
    if (setup.type === 'OAUTH_APP' || setup.type === 'OAUTH_CLIENT_CREDENTIALS') expect(Date.parse(res.json.refreshed_at)).toBeGreaterThan(Date.now() - 60_000);
    else expect(res.json).not.toHaveProperty('refreshed_at');
    for (const field of SECRET_FIELDS) if (typeof setup[field] === 'string') expect(res.text).not.toContain(setup[field]);
    const read = await flowsCall(coffer, token, 'GET', `/${res.json.id}`);
    expect(read.json).toEqual(res.json);
    const row = await findFlowsConnection(coffer.runtime.ctx.db, coffer.appId, res.json.id);
    expect(await openSetup(coffer.runtime.ctx.keyring, row!)).toEqual(setup);
  });

  it.each(all.map((c) => [`${c.app} ${c.setup.type}`, c] as const))('%s: an invalid variant is a 400 naming the field, and writes nothing', async (_label, c) => {
    const before = await count();
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: c.app, name: 'invalid', setup: c.invalid });
    const body = expectAuth0Error(res, 400, 'invalid_body');
    expect(body.message).toContain(c.names);
    expect(await count()).toBe(before);
  });

  it.each(FLOWS_APP_IDS)('%s: name and app_id alone make an uninitialised connection (ready: false)', async (app) => {
    const res = await flowsCall(coffer, token, 'POST', '', { app_id: app, name: `${app} later` });
    expect(res.status, res.text).toBe(201);
    expectConnectionShape(res.json);
    expect(res.json).toMatchObject({ app_id: app, ready: false });
    expect(res.json).not.toHaveProperty('account_name');
    expect(res.json).not.toHaveProperty('refreshed_at');
  });

  it('PATCH checks the setup against the stored app_id and leaves the connection as it was on refusal', async () => {
    const created = (await flowsCall(coffer, token, 'POST', '', { app_id: 'ZAPIER', name: 'zap' })).json;
    const wrongType = await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { setup: { type: 'TOKEN', token: 'zapier-token-0123' } });
    expect(expectAuth0Error(wrongType, 400, 'invalid_body').message).toBe("Payload validation error: 'setup.type' must be one of WEBHOOK for app_id ZAPIER");
    const appChange = await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { app_id: 'SLACK' });
    expect(expectAuth0Error(appChange, 400, 'invalid_body').message).toContain('app_id');
    const badName = await flowsCall(coffer, token, 'PATCH', `/${created.id}`, { name: '' });
    expect(expectAuth0Error(badName, 400, 'invalid_body').message).toContain('name');
    expect((await flowsCall(coffer, token, 'GET', `/${created.id}`)).json).toEqual(created);
  });

  it('create bodies: unknown app_id, missing or long name, read-only fields are 400s', async () => {
    const before = await count();
    const checks: Array<[Json, string]> = [
      [{ app_id: 'GITHUB', name: 'x' }, 'app_id'],
      [{ app_id: 'HTTP' }, 'name'],
      [{ name: 'x' }, 'app_id'],
      [{ app_id: 'HTTP', name: 'n'.repeat(151) }, 'name'],
      [{ app_id: 'HTTP', name: 'x', account_name: 'mine' }, 'account_name'],
      [{ app_id: 'HTTP', name: 'x', ready: true }, 'ready'],
      [{ app_id: 'HTTP', name: 'x', setup: 'BEARER' }, 'setup'],
    ];
    for (const [body, field] of checks) {
      const res = await flowsCall(coffer, token, 'POST', '', body);
      expect(expectAuth0Error(res, 400, 'invalid_body').message, JSON.stringify(body)).toContain(field);
    }
    const array = await flowsCall(coffer, token, 'POST', '', [{ app_id: 'HTTP', name: 'x' }]);
    expectAuth0Error(array, 400, 'invalid_body');
    expect(await count()).toBe(before);
  });
});
