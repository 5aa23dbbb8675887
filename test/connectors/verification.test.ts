// Connector verification requests against a REAL upstream (an http server on 127.0.0.1 that checks what it receives):
// how each injection style reaches the provider, what a save / `POST …/validate` does with the provider's answer, and
// the upstream guard that keeps credentials away from private addresses unless configured.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, dropSchema, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson, type Json } from '../support/envelope.js';
import { basicHeader, connectorCheck, startUpstream, writeConnectorDir, type TestUpstream } from '../support/upstream.js';

const UPSTREAM_ENV = {
  COFFER_VERIFY_CREDENTIALS: 'true',
  COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
  COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
};

const website = (id: string) => `https://${id}.example`;

/** One connector per injection style, all pointing at `upstream`. */
function connectors(upstream: string, downUrl: string) {
  const apiKey = { id: 'api_key', label: 'API key', type: 'password', required: true, sensitive: true };
  return [
    {
      id: 'vf-bearer',
      name: 'Verify Bearer',
      website: website('bearer'),
      unified_apis: ['crm'],
      auth_type: 'apiKey',
      form_fields: [{ id: 'tenant', label: 'Tenant', type: 'text', required: true }, apiKey],
      proxy: { base_url: `${upstream}/bearer/{tenant}/v1`, auth: { type: 'bearer', value: '{api_key}' } },
      verification: { path: '/me' },
    },
    {
      id: 'vf-header',
      name: 'Verify Header',
      website: website('header'),
      unified_apis: ['crm'],
      auth_type: 'apiKey',
      form_fields: [{ id: 'account', label: 'Account', type: 'text', required: true }, apiKey],
      proxy: { base_url: `${upstream}/header/v2/`, auth: { type: 'header', name: 'X-Api-Key', value: '{account}.{api_key}' } },
      verification: { method: 'GET', path: '/me?probe=1', success_statuses: [200, 204] },
    },
    {
      id: 'vf-query',
      name: 'Verify Query',
      website: website('query'),
      unified_apis: ['crm'],
      auth_type: 'custom',
      form_fields: [apiKey],
      proxy: { base_url: `${upstream}/query`, auth: { type: 'query', name: 'apikey', value: '{api_key}' } },
      verification: { method: 'POST', path: '/me?format=json' },
    },
    {
      id: 'vf-basic',
      name: 'Verify Basic',
      website: website('basic'),
      unified_apis: ['crm'],
      auth_type: 'basic',
      form_fields: [
        { id: 'region', label: 'Region', type: 'text', default_value: 'eu' },
        { id: 'username', label: 'Username', type: 'text', required: true },
        { id: 'password', label: 'Password', type: 'password', required: true, sensitive: true },
      ],
      proxy: { base_url: `${upstream}/basic/{region}`, auth: { type: 'basic', username: '{username}', password: '{password}' } },
      verification: { path: '/me' },
    },
    {
      id: 'vf-down',
      name: 'Verify Down',
      website: website('down'),
      unified_apis: ['crm'],
      auth_type: 'apiKey',
      form_fields: [apiKey],
      proxy: { base_url: `${downUrl}/bearer`, auth: { type: 'bearer', value: '{api_key}' } },
      verification: { path: '/me' },
    },
  ];
}

/** A 127.0.0.1 port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function client(coffer: TestCoffer, consumer: string, headers = coffer.headers(consumer)) {
  const at = (serviceId: string) => `${coffer.url}/vault/connections/crm/${serviceId}`;
  return {
    get: (serviceId: string) => fetch(at(serviceId), { headers }),
    patch: (serviceId: string, body: Json) =>
      fetch(at(serviceId), { method: 'PATCH', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    validate: (serviceId: string) => fetch(`${at(serviceId)}/validate`, { method: 'POST', headers }),
    async state(serviceId: string): Promise<string> {
      return (await okJson(await fetch(at(serviceId), { headers }))).data.state;
    },
  };
}

describe('the connector files of these tests', () => {
  it('are accepted by `coffer connector check DIR` (built CLI)', async () => {
    const dir = writeConnectorDir('coffer-verify-check-', connectors('http://127.0.0.1:4010', 'http://127.0.0.1:4011'));
    try {
      const result = await connectorCheck(dir);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ valid: true, connectors: ['vf-basic', 'vf-bearer', 'vf-down', 'vf-header', 'vf-query'] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(backends)('connector verification against a real upstream (%s)', (backend) => {
  let upstream: TestUpstream;
  let coffer: TestCoffer;
  let dir: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    dir = writeConnectorDir('coffer-verify-', connectors(upstream.url, await closedPortUrl()));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, ...UPSTREAM_ENV });
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each injection style reaches the upstream exactly as the connector defines it, templated from settings', async () => {
    for (const key of ['key-inject', 'acct-7.hk-inject', 'qk-inject', 'ada:pw-inject', 'bob:pw-us']) upstream.accepted.add(key);
    upstream.take();

    // bearer, with {tenant} in the base_url path
    const bearer = await okJson(await client(coffer, 'inject').patch('vf-bearer', { settings: { tenant: 'acme', api_key: 'key-inject' } }));
    expect(bearer.data.state).toBe('callable');
    let seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/bearer/acme/v1/me', search: '', credential: 'key-inject' });
    expect(seen[0].headers.authorization).toBe('Bearer key-inject');
    expect(seen[0].headers['x-api-key']).toBeUndefined();
    expect(seen[0].headers.accept).toBe('application/json');

    // custom header whose value combines two settings; the verification path carries its own query string
    const header = await okJson(await client(coffer, 'inject').patch('vf-header', { settings: { account: 'acct-7', api_key: 'hk-inject' } }));
    expect(header.data.state).toBe('callable');
    seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/header/v2/me', search: 'probe=1' });
    expect(seen[0].headers['x-api-key']).toBe('acct-7.hk-inject');
    expect(seen[0].headers.authorization).toBeUndefined();

    // query parameter, added to the path's own query string; POST as defined
    const query = await okJson(await client(coffer, 'inject').patch('vf-query', { settings: { api_key: 'qk-inject' } }));
    expect(query.data.state).toBe('callable');
    seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/query/me', query: { format: 'json', apikey: 'qk-inject' } });
    expect(seen[0].search).toBe('format=json&apikey=qk-inject');
    expect(seen[0].headers.authorization).toBeUndefined();
    expect(seen[0].headers['x-api-key']).toBeUndefined();

    // basic, with {region} from the field's default_value, then from a saved setting
    const basic = await okJson(await client(coffer, 'inject').patch('vf-basic', { settings: { username: 'ada', password: 'pw-inject' } }));
    expect(basic.data.state).toBe('callable');
    seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/basic/eu/me', search: '', credential: 'ada:pw-inject' });
    expect(seen[0].headers.authorization).toBe(basicHeader('ada', 'pw-inject'));

    const us = await okJson(await client(coffer, 'inject-us').patch('vf-basic', { settings: { region: 'us', username: 'bob', password: 'pw-us' } }));
    expect(us.data.state).toBe('callable');
    seen = upstream.take();
    expect(seen.map((r) => [r.path, r.headers.authorization])).toEqual([['/basic/us/me', basicHeader('bob', 'pw-us')]]);
  });

  it('asks the provider only when a write completes the required settings', async () => {
    const bob = client(coffer, 'partial');
    upstream.accepted.add('key-partial');
    upstream.take();
    const partial = await okJson(await bob.patch('vf-bearer', { settings: { tenant: 'acme' } }));
    expect(partial.data.state).toBe('added');
    expect(upstream.take()).toEqual([]);
    const complete = await okJson(await bob.patch('vf-bearer', { settings: { api_key: 'key-partial' } }));
    expect(complete.data.state).toBe('callable');
    expect(upstream.take().map((r) => r.headers.authorization)).toEqual(['Bearer key-partial']);
    // A write that does not touch the settings asks nothing.
    await okJson(await bob.patch('vf-bearer', { enabled: true }));
    expect(upstream.take()).toEqual([]);
  });

  it('good key → callable; bad key → 422 InvalidCredentialsError with the provider message, state invalid; fixed → callable', async () => {
    const bob = client(coffer, 'bob');
    upstream.accepted.add('key-bob-good');
    upstream.take();

    const good = await okJson(await bob.patch('vf-bearer', { settings: { tenant: 'acme', api_key: 'key-bob-good' } }));
    expect(good.data.state).toBe('callable');
    expect(await bob.state('vf-bearer')).toBe('callable');

    const bad = await bob.patch('vf-bearer', { settings: { api_key: 'key-bob-bad-1234' } });
    const { body, text } = await expectErrorEnvelope(bad, 422, 'InvalidCredentialsError');
    expect(body.detail).toBe('The API credentials are not valid');
    expect(body.message).toContain('Verify Bearer');
    expect(body.message).toContain('401');
    expect(text).not.toContain('key-bob-bad-1234');
    expect(upstream.take().map((r) => r.headers.authorization)).toEqual(['Bearer key-bob-good', 'Bearer key-bob-bad-1234']);

    const stored = await bob.get('vf-bearer');
    const storedText = await stored.text();
    expect(stored.status).toBe(200);
    expect(JSON.parse(storedText).data.state).toBe('invalid');
    expect(storedText).not.toContain('key-bob-bad-1234');

    const fixed = await okJson(await bob.patch('vf-bearer', { settings: { api_key: 'key-bob-good' } }));
    expect(fixed.data.state).toBe('callable');
    expect(await bob.state('vf-bearer')).toBe('callable');
  });

  it('a 403 is a refusal too', async () => {
    const erin = client(coffer, 'erin');
    upstream.failWith = { status: 403, message: 'This key may not read users' };
    try {
      const res = await erin.patch('vf-header', { settings: { account: 'acct-9', api_key: 'hk-erin' } });
      const { body } = await expectErrorEnvelope(res, 422, 'InvalidCredentialsError');
      expect(body.detail).toBe('This key may not read users');
      expect(body.message).toContain('403');
    } finally {
      upstream.failWith = null;
    }
    expect(await erin.state('vf-header')).toBe('invalid');
  });

  it('the refusal never carries the key, even when the provider echoes what it received', async () => {
    const cases: Array<[string, Json, string]> = [
      ['vf-bearer', { tenant: 'acme', api_key: 'key-echo-5678' }, 'key-echo-5678'],
      ['vf-header', { account: 'acct-echo', api_key: 'hk-echo-5678' }, 'hk-echo-5678'],
      ['vf-query', { api_key: 'qk-echo-5678' }, 'qk-echo-5678'],
      ['vf-basic', { username: 'echo-user', password: 'pw-echo-5678' }, 'pw-echo-5678'],
    ];
    upstream.rejectMessage = (credential) => `Credential ${credential} is revoked`;
    try {
      for (const [serviceId, settings, secret] of cases) {
        upstream.take();
        const res = await client(coffer, 'echo').patch(serviceId, { settings });
        const { body, text } = await expectErrorEnvelope(res, 422, 'InvalidCredentialsError', `${serviceId}: `);
        // The upstream did receive (and echo) the key; Coffer's answer does not repeat it.
        expect(upstream.take()[0].credential).toContain(secret);
        expect(body.detail).toMatch(/^Credential .* is revoked$/);
        expect(text, serviceId).not.toContain(secret);
        const view = await (await client(coffer, 'echo').get(serviceId)).text();
        expect(JSON.parse(view).data.state).toBe('invalid');
        expect(view, serviceId).not.toContain(secret);
      }
    } finally {
      upstream.rejectMessage = () => 'The API credentials are not valid';
    }
  });

  it('POST …/validate re-checks the stored credentials with the provider', async () => {
    const carol = client(coffer, 'carol');
    upstream.accepted.add('key-carol');
    expect((await okJson(await carol.patch('vf-bearer', { settings: { tenant: 'globex', api_key: 'key-carol' } }))).data.state).toBe('callable');
    upstream.take();

    upstream.accepted.delete('key-carol');
    const refused = await carol.validate('vf-bearer');
    const { body, text } = await expectErrorEnvelope(refused, 422, 'InvalidCredentialsError');
    expect(body.detail).toBe('The API credentials are not valid');
    expect(text).not.toContain('key-carol');
    expect(await carol.state('vf-bearer')).toBe('invalid');
    let seen = upstream.take();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/bearer/globex/v1/me' });
    expect(seen[0].headers.authorization).toBe('Bearer key-carol');

    upstream.accepted.add('key-carol');
    const accepted = await okJson(await carol.validate('vf-bearer'));
    expect(accepted.data).toEqual({ id: 'crm+vf-bearer', state: 'callable' });
    expect(await carol.state('vf-bearer')).toBe('callable');
    seen = upstream.take();
    expect(seen.map((r) => r.headers.authorization)).toEqual(['Bearer key-carol']);
  });

  it('a provider answering 500 neither fails the save nor changes the state; validate answers 502', async () => {
    const dave = client(coffer, 'dave');
    upstream.accepted.add('key-dave');
    expect((await okJson(await dave.patch('vf-bearer', { settings: { tenant: 'acme', api_key: 'key-dave' } }))).data.state).toBe('callable');

    upstream.failWith = { status: 500, message: 'Upstream is having a bad day' };
    try {
      upstream.take();
      // callable stays callable …
      const saved = await okJson(await dave.patch('vf-bearer', { settings: { api_key: 'key-dave-2' } }));
      expect(saved.data.state).toBe('callable');
      expect(upstream.take().map((r) => r.headers.authorization)).toEqual(['Bearer key-dave-2']);
      const { body } = await expectErrorEnvelope(await dave.validate('vf-bearer'), 502, 'ConnectorExecutionError');
      expect(body.detail).toBe('Upstream is having a bad day');
      expect(body.message).toContain('500');
      expect(await dave.state('vf-bearer')).toBe('callable');
      // … the unverified key was stored all the same: once the provider is back, validate refuses it.
      upstream.failWith = null;
      await expectErrorEnvelope(await dave.validate('vf-bearer'), 422, 'InvalidCredentialsError');
      expect(await dave.state('vf-bearer')).toBe('invalid');
      // … and invalid stays invalid.
      upstream.failWith = { status: 500, message: 'Upstream is having a bad day' };
      const again = await okJson(await dave.patch('vf-bearer', { settings: { api_key: 'key-dave-3' } }));
      expect(again.data.state).toBe('invalid');
      await expectErrorEnvelope(await dave.validate('vf-bearer'), 502, 'ConnectorExecutionError');
      expect(await dave.state('vf-bearer')).toBe('invalid');
    } finally {
      upstream.failWith = null;
    }
    upstream.accepted.add('key-dave-3');
    expect((await okJson(await dave.validate('vf-bearer'))).data).toEqual({ id: 'crm+vf-bearer', state: 'callable' });
    expect(await dave.state('vf-bearer')).toBe('callable');
  });

  it('a key that cannot travel in an HTTP header is refused without echoing it', async () => {
    const henry = client(coffer, 'henry');
    upstream.take();
    const saved = await henry.patch('vf-bearer', { settings: { tenant: 'acme', api_key: 'key-henry\nX-Injected: 1' } });
    const { text } = await expectErrorEnvelope(saved, 400, 'RequestValidationError');
    expect(text).not.toContain('key-henry');
    expect(upstream.take()).toEqual([]);
    expect((await okJson(await henry.get('vf-bearer'))).data.state).toBe('available');
  });

  it('an unreachable provider leaves the state alone on save and answers 502 on validate', async () => {
    const frank = client(coffer, 'frank');
    const saved = await okJson(await frank.patch('vf-down', { settings: { api_key: 'key-frank' } }));
    expect(saved.data.state).toBe('callable');
    const { body, text } = await expectErrorEnvelope(await frank.validate('vf-down'), 502, 'ConnectorExecutionError');
    expect(body.message).toContain('Verify Down');
    expect(text).not.toContain('key-frank');
    expect(await frank.state('vf-down')).toBe('callable');
  });
});

describe.each(backends)('the upstream guard keeps credentials away from private addresses (%s)', (backend) => {
  let upstream: TestUpstream;
  let dir: string;
  let first: TestCoffer;
  let guarded: TestCoffer;
  let gina: ReturnType<typeof client>;

  beforeAll(async () => {
    upstream = await startUpstream();
    upstream.accepted.add('key-gina');
    dir = writeConnectorDir('coffer-guard-', connectors(upstream.url, await closedPortUrl()));
    // The connection is saved (and verified) while private upstreams are allowed …
    first = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, ...UPSTREAM_ENV });
    const saved = await okJson(await client(first, 'gina').patch('vf-bearer', { settings: { tenant: 'acme', api_key: 'key-gina' } }));
    expect(saved.data.state).toBe('callable');
    await first.server.close();
    await first.runtime.close();
    // … then Coffer restarts on the same store without COFFER_ALLOW_PRIVATE_UPSTREAMS.
    guarded = await startCoffer(backend, {
      COFFER_CONNECTORS_DIR: dir,
      COFFER_VERIFY_CREDENTIALS: 'true',
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_DATA_DIR: first.dataDir,
      COFFER_MASTER_KEY: first.masterKey,
      ...(first.databaseUrl ? { DATABASE_URL: first.databaseUrl } : {}),
    });
    expect(guarded.runtime.ctx.outbound.policy.allowPrivateNetworks).toBe(false);
    gina = client(guarded, 'gina', first.headers('gina'));
    upstream.take();
  });
  afterAll(async () => {
    await guarded?.close();
    if (first?.schema) await dropSchema(first.schema);
    if (first) fs.rmSync(first.dataDir, { recursive: true, force: true });
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('validate is refused with a 400 envelope and the upstream receives no request', async () => {
    expect(await gina.state('vf-bearer')).toBe('callable');
    const { body, text } = await expectErrorEnvelope(await gina.validate('vf-bearer'), 400, 'RequestValidationError');
    expect(body.message).toContain('127.0.0.1');
    expect(text).not.toContain('key-gina');
    expect(upstream.requests).toEqual([]);
    // A refusal by the guard says nothing about the credentials.
    expect(await gina.state('vf-bearer')).toBe('callable');
  });

  it('saving new credentials is refused the same way, without a request', async () => {
    const { text } = await expectErrorEnvelope(await gina.patch('vf-bearer', { settings: { api_key: 'key-gina-2' } }), 400, 'RequestValidationError');
    expect(text).not.toContain('key-gina-2');
    expect(upstream.requests).toEqual([]);
    expect(await gina.state('vf-bearer')).toBe('callable');
  });
});
