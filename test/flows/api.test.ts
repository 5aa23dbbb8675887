// The Flows Vault API's edges over raw HTTP: tokens (401), scopes (403), unknown ids (404), paging, form bodies,
// and one application's token never reaching another's connections.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { ALL_SCOPES, expectAuth0Error, expectConnectionShape, flowsCall, managementToken } from '../support/flows.js';
import { MANAGEMENT_TOKEN_AUDIENCE, MANAGEMENT_TOKEN_ISSUER } from '../../src/flows/management-token.js';

describe.each(backends)('Flows Vault API over HTTP (%s)', (backend) => {
  let coffer: TestCoffer;
  let token: string;
  let existing: { id: string; fingerprint: string };

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    token = await managementToken(coffer);
    existing = (await flowsCall(coffer, token, 'POST', '', { app_id: 'HTTP', name: 'existing', setup: { type: 'BEARER', token: 'existing-token-0123' } })).json;
  });

  afterAll(async () => coffer?.close());

  /** A token as Coffer would sign it, with some claims changed. */
  async function forgedToken(changes: { key?: Uint8Array; issuer?: string; audience?: string; expiresIn?: string | number; applicationId?: string }) {
    return new SignJWT({ application_id: changes.applicationId ?? coffer.appId, scope: ALL_SCOPES.join(' ') })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(changes.issuer ?? MANAGEMENT_TOKEN_ISSUER)
      .setAudience(changes.audience ?? MANAGEMENT_TOKEN_AUDIENCE)
      .setSubject(`${coffer.appId}@clients`)
      .setIssuedAt()
      .setExpirationTime(changes.expiresIn ?? '1h')
      .sign(changes.key ?? coffer.runtime.ctx.keyring.flowsManagementKey);
  }

  it('a valid forged-alike token works (so the 401s below are about the one changed claim)', async () => {
    const res = await flowsCall(coffer, await forgedToken({}), 'GET', `/${existing.id}`);
    expect(res.status, res.text).toBe(200);
  });

  it('missing, malformed, foreign, expired or wrongly addressed tokens are 401 and never echoed', async () => {
    const session = (await (await fetch(`${coffer.url}/vault/sessions`, { method: 'POST', headers: { ...coffer.headers('consumer-1'), 'content-type': 'application/json' }, body: '{}' })).json()).data.session_token as string;
    const cases: Array<[string | null, string, string | RegExp]> = [
      [null, 'missing header', 'Missing authentication'],
      ['garbage', 'not a JWT', 'Invalid token'],
      [coffer.apiKey, 'an Apideck API key', 'Invalid token'],
      [session, 'a Hosted Vault session token', 'Invalid signature received for JSON Web Token validation'],
      [await forgedToken({ key: new Uint8Array(32).fill(7) }), 'another key', 'Invalid signature received for JSON Web Token validation'],
      [await forgedToken({ expiresIn: Math.floor(Date.now() / 1000) - 10 }), 'expired', 'Expired token received for JSON Web Token validation'],
      [await forgedToken({ issuer: 'https://tenant.auth0.com/' }), 'another issuer', 'Invalid token'],
      [await forgedToken({ audience: 'https://tenant.auth0.com/api/v2/' }), 'another audience', 'Invalid token'],
      [await forgedToken({ applicationId: 'app_deleted_or_never_existed' }), 'unknown application', 'Invalid token'],
    ];
    for (const [bad, label, message] of cases) {
      for (const [method, path] of [['GET', ''], ['GET', `/${existing.id}`], ['POST', ''], ['PATCH', `/${existing.id}`], ['DELETE', `/${existing.id}`]] as const) {
        const res = await flowsCall(coffer, bad, method, path, method === 'POST' || method === 'PATCH' ? { name: 'x', app_id: 'HTTP' } : undefined);
        expectAuth0Error(res, 401, 'invalid_token', message);
        if (bad) expect(res.text, label).not.toContain(bad);
      }
    }
    const basic = await fetch(`${coffer.url}/api/v2/flows/vault/connections`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expectAuth0Error({ status: basic.status, headers: basic.headers, text: '', json: await basic.json() }, 401, 'invalid_token', 'Bad HTTP authentication header format');
    expect((await flowsCall(coffer, token, 'GET', `/${existing.id}`)).json.fingerprint).toBe(existing.fingerprint);
  });

  it('each operation needs its own scope: 403 names it, before any lookup or validation', async () => {
    const only = async (scope: string) => managementToken(coffer, [scope]);
    const reader = await only('read:flows_vault_connections');
    const creator = await only('create:flows_vault_connections');
    const updater = await only('update:flows_vault_connections');
    const deleter = await only('delete:flows_vault_connections');
    const expectations: Array<[string, string, string, string, unknown]> = [
      [creator, 'GET', '', 'read', undefined],
      [creator, 'GET', `/${existing.id}`, 'read', undefined],
      [reader, 'POST', '', 'create', { app_id: 'HTTP', name: 'x' }],
      [reader, 'PATCH', `/${existing.id}`, 'update', { name: 'x' }],
      [reader, 'DELETE', `/${existing.id}`, 'delete', undefined],
      [deleter, 'PATCH', '/ac_doesNotExist000000000', 'update', { bad: true }],
      [updater, 'DELETE', '/ac_doesNotExist000000000', 'delete', undefined],
    ];
    for (const [scoped, method, path, action, body] of expectations) {
      const res = await flowsCall(coffer, scoped, method, path, body);
      expectAuth0Error(res, 403, 'insufficient_scope', `Insufficient scope; expected any of: ${action}:flows_vault_connections.`);
    }
    // The matching scope alone is enough.
    expect((await flowsCall(coffer, reader, 'GET', `/${existing.id}`)).status).toBe(200);
    expect((await flowsCall(coffer, updater, 'PATCH', `/${existing.id}`, {})).status).toBe(200);
    expect((await flowsCall(coffer, creator, 'POST', '', { app_id: 'JWT', name: 'scoped' })).status).toBe(201);
    expect((await flowsCall(coffer, token, 'GET', `/${existing.id}`)).json.fingerprint).toBe(existing.fingerprint);
  });

  it('unknown ids are 404 for get, patch and delete; ids over 30 characters are 400', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await flowsCall(coffer, token, method, '/ac_doesNotExist000000000', method === 'PATCH' ? { name: 'x' } : undefined);
      expectAuth0Error(res, 404, 'inexistent_flows_vault_connection', 'Connection not found');
      const long = await flowsCall(coffer, token, method, `/ac_${'x'.repeat(28)}`, method === 'PATCH' ? { name: 'x' } : undefined);
      expectAuth0Error(long, 400, 'invalid_uri', /'id'/);
    }
    expectAuth0Error(await flowsCall(coffer, token, 'PUT', `/${existing.id}`, { name: 'x' }), 404, 'not_found');
  });

  it('pages: a bare array by default, the paging object with include_totals=true, 400 for bad paging', async () => {
    const other = await coffer.createApp();
    const pager = await managementToken(coffer, ALL_SCOPES, other.application_id);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await flowsCall(coffer, pager, 'POST', '', { app_id: 'AIRTABLE', name: `base ${i}` })).json.id);

    const bare = await flowsCall(coffer, pager, 'GET');
    expect(bare.status).toBe(200);
    expect(bare.json.map((c: { id: string }) => c.id)).toEqual(ids);
    for (const summary of bare.json) {
      expectConnectionShape(summary);
      expect(summary).not.toHaveProperty('environment');
    }
    const page = await flowsCall(coffer, pager, 'GET', '?page=1&per_page=3&include_totals=true');
    expect(page.json).toEqual({ start: 3, limit: 3, total: 7, connections: bare.json.slice(3, 6) });
    expect((await flowsCall(coffer, pager, 'GET', '?page=2&per_page=3')).json).toEqual(bare.json.slice(6));
    expect((await flowsCall(coffer, pager, 'GET', '?page=3&per_page=3&include_totals=true')).json).toEqual({ start: 9, limit: 3, total: 7, connections: [] });
    expect((await flowsCall(coffer, pager, 'GET', '?include_totals=false&per_page=2')).json).toEqual(bare.json.slice(0, 2));

    for (const query of ['per_page=0', 'per_page=101', 'page=1001', 'page=-1', 'page=one', 'per_page=2.5', 'include_totals=yes', 'fields=id', 'page=1&page=2']) {
      const res = await flowsCall(coffer, pager, 'GET', `?${query}`);
      expectAuth0Error(res, 400, 'invalid_query_string', /^Query validation error: /);
    }
  });

  it('accepts form-encoded bodies for create and update', async () => {
    const form = new URLSearchParams({ name: 'form made', app_id: 'HTTP', 'setup[type]': 'BASIC_AUTH', 'setup[username]': 'form-user', 'setup[password]': 'form-password-0123' });
    const created = await flowsCall(coffer, token, 'POST', '', undefined, { form: form.toString() });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ name: 'form made', app_id: 'HTTP', ready: true, account_name: 'Basic form-user' });
    const renamed = await flowsCall(coffer, token, 'PATCH', `/${created.json.id}`, undefined, { form: 'name=renamed%20by%20form' });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.json).toMatchObject({ name: 'renamed by form', account_name: 'Basic form-user' });
    const invalid = await flowsCall(coffer, token, 'POST', '', undefined, { form: 'name=x&app_id=HTTP&setup[type]=BASIC_AUTH' });
    expect(expectAuth0Error(invalid, 400, 'invalid_body').message).toContain('username');
  });

  it('form and query keys cannot reach Object.prototype', async () => {
    const created = await flowsCall(coffer, token, 'POST', '', undefined, { form: '__proto__[polluted]=yes&name=safe&app_id=HTTP' });
    expect(created.status, created.text).toBe(201);
    const listed = await flowsCall(coffer, token, 'GET', '?__proto__[polluted]=yes');
    expect(listed.status, listed.text).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(created.json.name).toBe('safe');
  });

  it('bad JSON is 400 and other media types 415, in Auth0\'s shape', async () => {
    const headers = { authorization: `Bearer ${token}` };
    const broken = await fetch(`${coffer.url}/api/v2/flows/vault/connections`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"name":' });
    expectAuth0Error({ status: broken.status, headers: broken.headers, text: '', json: await broken.json() }, 400, 'invalid_body', /not valid JSON/);
    const text = await fetch(`${coffer.url}/api/v2/flows/vault/connections`, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: 'name=x' });
    expectAuth0Error({ status: text.status, headers: text.headers, text: '', json: await text.json() }, 415, 'unsupported_media_type');
    const empty = await flowsCall(coffer, token, 'POST');
    expectAuth0Error(empty, 400, 'invalid_body');
  });

  it("one application's token never sees or changes another's connections", async () => {
    const other = await coffer.createApp();
    const stranger = await managementToken(coffer, ALL_SCOPES, other.application_id);
    expect((await flowsCall(coffer, stranger, 'GET', '?include_totals=true')).json).toEqual({ start: 0, limit: 50, total: 0, connections: [] });
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await flowsCall(coffer, stranger, method, `/${existing.id}`, method === 'PATCH' ? { name: 'hijacked' } : undefined);
      expectAuth0Error(res, 404, 'inexistent_flows_vault_connection');
    }
    const mine = await flowsCall(coffer, token, 'GET', `/${existing.id}`);
    expect(mine.json).toMatchObject({ name: 'existing', fingerprint: existing.fingerprint });
    // And the Apideck API key of the same application is no Management API token.
    const apideck = await fetch(`${coffer.url}/api/v2/flows/vault/connections`, { headers: coffer.headers() });
    expect(apideck.status).toBe(401);
  });
});
