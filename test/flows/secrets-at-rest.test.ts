// No Flows Vault setup secret (nor an obtained access token) reaches the database or a response in the clear.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSetup, openTokens } from '../../src/flows/connection-secrets.js';
import { findFlowsConnection } from '../../src/store/flows-connections.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { flowsCall, managementToken } from '../support/flows.js';
import { startProvider, type TestProvider } from '../support/oidc.js';
import { leaks, rawStorage } from '../support/raw-storage.js';

const distinct = (label: string) => `${label}-${crypto.randomBytes(18).toString('base64url')}`;

describe.each(backends)('Flows Vault secrets at rest (%s)', (backend) => {
  let coffer: TestCoffer;
  let provider: TestProvider;
  let token: string;
  const secrets: Record<string, string> = {
    bearer: distinct('bearer'),
    password: distinct('password'),
    headerValue: distinct('header-value'),
    apiKey: distinct('api-key'),
    secretKey: distinct('secret-key'),
    stripePrivate: distinct('sk_live'),
    privateKey: `-----BEGIN PRIVATE KEY-----\n${crypto.randomBytes(48).toString('base64')}\n-----END PRIVATE KEY-----`,
    jwtSecret: distinct('jwt-secret'),
    oauthCode: distinct('oauth-code'),
    webhookPath: distinct('T000/B000'),
    telegram: distinct('123456:tg'),
    replacedBearer: distinct('replaced-bearer'),
    clientSecret: '', // the provider's, filled in beforeAll
    accessToken: '', // what the provider issued, filled in beforeAll
  };
  const names = { http: distinct('name-http'), slack: distinct('name-slack') };
  const responses: string[] = [];
  const ids: string[] = [];

  async function create(body: unknown): Promise<string> {
    const res = await flowsCall(coffer, token, 'POST', '', body);
    expect(res.status, res.text).toBe(201);
    responses.push(res.text);
    ids.push(res.json.id);
    return res.json.id;
  }

  beforeAll(async () => {
    provider = await startProvider();
    provider.init(['http://127.0.0.1/unused']);
    secrets.clientSecret = provider.clientSecret;
    coffer = await startCoffer(backend, { COFFER_ALLOW_INSECURE_PROVIDERS: 'true', COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true' });
    token = await managementToken(coffer);

    const bearer = await create({ app_id: 'HTTP', name: names.http, setup: { type: 'BEARER', token: secrets.replacedBearer } });
    // Replaced, then renamed: neither the old secret nor the re-sealed new one may be left in the clear.
    responses.push((await flowsCall(coffer, token, 'PATCH', `/${bearer}`, { setup: { type: 'BEARER', token: secrets.bearer } })).text);
    responses.push((await flowsCall(coffer, token, 'PATCH', `/${bearer}`, { name: `${names.http} renamed` })).text);
    await create({ app_id: 'HTTP', name: 'basic', setup: { type: 'BASIC_AUTH', username: 'svc-user', password: secrets.password } });
    await create({ app_id: 'HTTP', name: 'header', setup: { type: 'API_KEY', name: 'X-Api-Key', value: secrets.headerValue, in: 'HEADER' } });
    const oauth = await create({
      app_id: 'HTTP',
      name: 'oauth',
      setup: { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: provider.clientId, client_secret: provider.clientSecret, token_endpoint: `${provider.issuer}/token` },
    });
    await create({ app_id: 'SENDGRID', name: 'mail', setup: { type: 'API_KEY', api_key: secrets.apiKey } });
    await create({ app_id: 'CLEARBIT', name: 'enrich', setup: { type: 'API_KEY', secret_key: secrets.secretKey } });
    await create({ app_id: 'STRIPE', name: 'payments', setup: { type: 'KEY_PAIR', private_key: secrets.stripePrivate, public_key: 'pk_live_public' } });
    await create({ app_id: 'BIGQUERY', name: 'warehouse', setup: { type: 'OAUTH_JWT', project_id: 'p1', private_key: secrets.privateKey, client_email: 'svc@p1.iam.gserviceaccount.com' } });
    await create({ app_id: 'JWT', name: 'signer', setup: { type: 'JWT', algorithm: 'HS512', secret: secrets.jwtSecret } });
    await create({ app_id: 'SALESFORCE', name: 'crm', setup: { type: 'OAUTH_CODE', code: secrets.oauthCode } });
    await create({ app_id: 'SLACK', name: names.slack, setup: { type: 'WEBHOOK', url: `https://hooks.slack.com/services/${secrets.webhookPath}` } });
    await create({ app_id: 'TELEGRAM', name: 'bot', setup: { type: 'TOKEN', token: secrets.telegram } });

    const row = await findFlowsConnection(coffer.runtime.ctx.db, coffer.appId, oauth);
    secrets.accessToken = (await openTokens(coffer.runtime.ctx.keyring, row!))!.access_token;
    responses.push((await flowsCall(coffer, token, 'GET', '?include_totals=true')).text);
    for (const id of ids) responses.push((await flowsCall(coffer, token, 'GET', `/${id}`)).text);
  });

  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
  });

  it('stored every secret: the domain opens them back', async () => {
    const setups = await Promise.all(ids.map(async (id) => openSetup(coffer.runtime.ctx.keyring, (await findFlowsConnection(coffer.runtime.ctx.db, coffer.appId, id))!)));
    const text = JSON.stringify(setups);
    for (const [name, secret] of Object.entries(secrets)) if (name !== 'accessToken' && name !== 'replacedBearer') expect(text, name).toContain(JSON.stringify(secret).slice(1, -1));
    expect(secrets.accessToken.length).toBeGreaterThan(10);
  });

  it('the raw database holds none of them, in any encoding', async () => {
    expect(leaks(await rawStorage(coffer), secrets)).toEqual([]);
  });

  it('the check would catch a leak: names and app ids are in the same dump', async () => {
    const dump = await rawStorage(coffer);
    expect(dump.includes(names.http)).toBe(true);
    expect(dump.includes(names.slack)).toBe(true);
    expect(leaks(dump, { name: names.slack })).not.toEqual([]);
  });

  it('no response showed any of them', () => {
    expect(responses.length).toBeGreaterThan(ids.length);
    for (const text of responses) expect(leaks(text, secrets)).toEqual([]);
  });
});
