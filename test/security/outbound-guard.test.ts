// Issue 11, finding 1: the application's OAuth client secret (and every other credential) goes only where the
// connector says. A consumer, or anyone holding their session link, sets a templated host (`instance_url`,
// `country`) to a listener of theirs: the setting is refused when saved, and a host that is no longer allowed is
// refused again when used. With the default policy, no credential-carrying call opens even a TCP connection to a
// loopback address, whether the connector names it literally or by a host name.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { backends, dropSchema, startCoffer, type Backend, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson } from '../support/envelope.js';
import { flowsCall, managementToken } from '../support/flows.js';
import { APP_REDIRECT, expectErrorPage, fetchManual, runBrowser, withParams } from '../support/oauth-harness.js';
import { startProvider, tempDir, type TestProvider } from '../support/oidc.js';

/** A TCP listener standing in for the attacker's host: counts every connection opened to it. */
async function startListener(): Promise<{ port: number; url: string; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function headersFor(coffer: TestCoffer, consumer: string, json = true): Record<string, string> {
  return { ...coffer.headers(consumer), ...(json ? { 'content-type': 'application/json' } : {}) };
}

async function call(coffer: TestCoffer, consumer: string, method: string, url: string, body?: unknown, auth?: Record<string, string>) {
  return fetch(`${coffer.url}${url}`, {
    method,
    headers: auth ? { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } : headersFor(coffer, consumer, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function sessionHeaders(coffer: TestCoffer, consumer: string): Promise<Record<string, string>> {
  const session = await okJson(await call(coffer, consumer, 'POST', '/vault/sessions', {}));
  return { authorization: `Bearer ${session.data.session_token}`, 'x-apideck-auth-type': 'JWT' };
}

/** A self-managed provider: every OAuth URL starts with the consumer's `instance_url`. */
function selfHostedConnector(): string {
  return [
    'id: selfhosted',
    'name: Self-hosted Tracker',
    'website: https://selfhosted.example',
    'unified_apis: [issue-tracking]',
    'auth_type: oauth2',
    'hosts: [tracker.example]',
    'oauth:',
    '  grant_type: authorization_code',
    '  authorization_url: "{instance_url}/auth"',
    '  token_url: "{instance_url}/token"',
    '  revocation_url: "{instance_url}/token/revocation"',
    '  scopes: [api]',
    'form_fields:',
    '  - { id: instance_url, label: Instance URL, type: url, required: true, default_value: "https://tracker.example" }',
    'settings_required_for_authorization: [instance_url]',
    '',
  ].join('\n');
}

describe.each(backends)('templated OAuth hosts stay on the connector’s hosts (%s)', (backend: Backend) => {
  let provider: TestProvider;
  let listener: Awaited<ReturnType<typeof startListener>>;
  let dir: string;
  let coffer: TestCoffer;
  let restarted: TestCoffer | null = null;

  beforeAll(async () => {
    provider = await startProvider();
    listener = await startListener();
    dir = tempDir('coffer-hosts-');
    fs.writeFileSync(path.join(dir, 'selfhosted.yaml'), selfHostedConnector());
    // The most permissive outbound policy: what refuses below is the host rule alone.
    coffer = await startCoffer(backend, {
      COFFER_CONNECTORS_DIR: dir,
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_REFRESH_INTERVAL_SECONDS: '0',
      // The operator adds the self-managed instance (the provider), not the attacker's listener.
      COFFER_PROVIDER_HOSTS: `selfhosted=${new URL(provider.issuer).host}`,
    });
    provider.init([`${coffer.url}/vault/callback`]);
    for (const id of ['selfhosted', 'gitlab', 'exact-online']) {
      await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, id, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    }
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  });
  afterEach(() => expect(listener.connections()).toBe(0));
  afterAll(async () => {
    await restarted?.close();
    await coffer?.close();
    if (coffer?.schema) await dropSchema(coffer.schema);
    await provider?.close();
    await listener?.close();
  });

  it('an instance the operator listed works end to end (authorize, exchange, tokens)', async () => {
    const saved = await okJson(await call(coffer, 'ops', 'PATCH', '/vault/connections/issue-tracking/selfhosted', { settings: { instance_url: provider.issuer } }));
    expect(saved.data.settings.instance_url).toBe(provider.issuer);
    const run = await runBrowser(withParams(saved.data.authorize_url, { redirect_uri: APP_REDIRECT }));
    expect(run.url.toString().startsWith(APP_REDIRECT), run.hops.join('\n')).toBe(true);
    expect(provider.tokenRequests.authorization_code).toBe(1);
    const after = await okJson(await call(coffer, 'ops', 'GET', '/vault/connections/issue-tracking/selfhosted'));
    expect(after.data.state).toBe('callable');
  });

  it('a consumer cannot point instance_url at their own host, with an API key or a session token', async () => {
    const attack = { settings: { instance_url: listener.url } };
    const { body, text } = await expectErrorEnvelope(await call(coffer, 'mallory', 'PATCH', '/vault/connections/issue-tracking/selfhosted', attack), 400, 'RequestValidationError');
    expect(body.message).toContain(`127.0.0.1:${listener.port} is not a Self-hosted Tracker host`);
    expect(text).not.toContain(provider.clientSecret);
    const session = await sessionHeaders(coffer, 'mallory');
    await expectErrorEnvelope(await call(coffer, 'mallory', 'PATCH', '/vault/connections/issue-tracking/selfhosted', attack, session), 400, 'RequestValidationError');
    await expectErrorEnvelope(await call(coffer, 'mallory', 'POST', '/vault/connections/issue-tracking/gitlab', attack, session), 400, 'RequestValidationError');
    await expectErrorEnvelope(
      await call(coffer, 'mallory', 'PATCH', '/vault/connections/issue-tracking/gitlab', { settings: { instance_url: 'https://gitlab.evil.example' } }),
      400,
      'RequestValidationError',
    );
    // Nothing was stored: the connections still have their defaults.
    const gitlab = await okJson(await call(coffer, 'mallory', 'GET', '/vault/connections/issue-tracking/gitlab'));
    expect(gitlab.data.settings?.instance_url ?? 'https://gitlab.com').toBe('https://gitlab.com');
    const selfhosted = await okJson(await call(coffer, 'mallory', 'GET', '/vault/connections/issue-tracking/selfhosted'));
    expect(selfhosted.data.settings?.instance_url).toBeUndefined();
  });

  it('a setting placed in the middle of a host cannot make it the attacker’s domain (exact-online country)', async () => {
    await expectErrorEnvelope(
      await call(coffer, 'mallory', 'PATCH', '/vault/connections/accounting/exact-online', { settings: { country: 'evil.example' } }),
      400,
      'RequestValidationError',
    );
    await expectErrorEnvelope(
      await call(coffer, 'mallory', 'PATCH', '/vault/connections/accounting/exact-online', { settings: { country: `127.0.0.1:${listener.port}` } }),
      400,
      'RequestValidationError',
    );
    const ok = await okJson(await call(coffer, 'mallory', 'PATCH', '/vault/connections/accounting/exact-online', { settings: { country: 'be' } }));
    expect(ok.data.settings.country).toBe('be');
  });

  it('stored credentials stay with their host: moving it needs the secrets again, and is refused while tokens are held', async () => {
    const store = (settings: Record<string, unknown>, auth?: Record<string, string>) =>
      call(coffer, 'shop', 'PATCH', '/vault/connections/ecommerce/woocommerce', { settings }, auth);
    await okJson(await store({ store_url: 'https://shop.example', consumer_key: 'ck_shop', consumer_secret: 'cs_shop' }));
    // Someone holding the consumer's session link points the store elsewhere, keeping the stored keys: refused.
    const session = await sessionHeaders(coffer, 'shop');
    const { body, text } = await expectErrorEnvelope(await store({ store_url: 'https://evil.example' }, session), 400, 'RequestValidationError');
    expect(body.message).toContain('settings.consumer_secret');
    expect(text).not.toContain('cs_shop');
    await expectErrorEnvelope(await store({ store_url: 'https://evil.example', consumer_secret: '********' }), 400, 'RequestValidationError');
    const kept = await okJson(await call(coffer, 'shop', 'GET', '/vault/connections/ecommerce/woocommerce'));
    expect(kept.data.settings.store_url).toBe('https://shop.example');
    // Whoever knows the secrets may move the store: they come with it.
    const moved = await okJson(await store({ store_url: 'https://shop2.example', consumer_key: 'ck_shop2', consumer_secret: 'cs_shop2' }));
    expect(moved.data.settings.store_url).toBe('https://shop2.example');
    // OAuth tokens were issued by the instance that holds them: no move while they are held.
    await expectErrorEnvelope(
      await call(coffer, 'ops', 'PATCH', '/vault/connections/issue-tracking/selfhosted', { settings: { instance_url: 'https://tracker.example' } }),
      400,
      'RequestValidationError',
    );
    const ops = await okJson(await call(coffer, 'ops', 'GET', '/vault/connections/issue-tracking/selfhosted'));
    expect(ops.data.settings.instance_url).toBe(provider.issuer);
  });

  it('once the operator drops a host, a connection saved for it is refused when used: no authorize, no refresh', async () => {
    await coffer.server.close();
    await coffer.runtime.close();
    restarted = await startCoffer(backend, {
      COFFER_CONNECTORS_DIR: dir,
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_REFRESH_INTERVAL_SECONDS: '0',
      COFFER_DATA_DIR: coffer.dataDir,
      COFFER_MASTER_KEY: coffer.masterKey,
      ...(coffer.databaseUrl ? { DATABASE_URL: coffer.databaseUrl } : {}),
    });
    const before = { ...provider.tokenRequests };
    const ops = (method: string, url: string) => fetch(`${restarted!.url}${url}`, { method, headers: { ...coffer.headers('ops'), 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
    // A forced refresh (validate) goes nowhere.
    await expectErrorEnvelope(await ops('POST', '/vault/connections/issue-tracking/selfhosted/validate'), 400, 'RequestValidationError');
    // Neither does a new authorization.
    const view = await okJson(await ops('GET', '/vault/connections/issue-tracking/selfhosted'));
    await expectErrorPage(await fetchManual(withParams(view.data.authorize_url, { redirect_uri: APP_REDIRECT })), 400);
    expect(provider.tokenRequests).toEqual(before);
  });
});

describe.each(backends)('with the default outbound policy nothing carrying a credential reaches loopback (%s)', (backend: Backend) => {
  let provider: TestProvider;
  let listener: Awaited<ReturnType<typeof startListener>>;
  let dir: string;
  let coffer: TestCoffer;

  beforeAll(async () => {
    provider = await startProvider();
    listener = await startListener();
    dir = tempDir('coffer-default-policy-');
    const issuer = provider.issuer;
    const port = new URL(issuer).port;
    // The browser reaches the provider at 127.0.0.1; Coffer is told to exchange the code at `localhost`, a host name
    // that resolves to loopback: only the guarded pool's own DNS check can refuse it.
    fs.writeFileSync(
      path.join(dir, 'named-loopback.yaml'),
      [
        'id: named-loopback',
        'name: Named Loopback',
        'website: https://named-loopback.example',
        'unified_apis: [crm]',
        'auth_type: oauth2',
        'oauth:',
        '  grant_type: authorization_code',
        `  authorization_url: ${issuer}/auth`,
        `  token_url: http://localhost:${port}/token`,
        `  issuer: ${issuer}`,
        '  scopes: [api]',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, 'listener-grant.yaml'),
      [
        'id: listener-grant',
        'name: Listener Grant',
        'website: https://listener-grant.example',
        'unified_apis: [crm]',
        'auth_type: oauth2',
        'oauth:',
        '  grant_type: client_credentials',
        `  token_url: https://localhost:${listener.port}/token`,
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, 'listener-key.yaml'),
      [
        'id: listener-key',
        'name: Listener Key',
        'website: https://listener-key.example',
        'unified_apis: [crm]',
        'auth_type: apiKey',
        'form_fields:',
        '  - { id: api_key, label: API key, type: password, required: true, sensitive: true }',
        'proxy:',
        `  base_url: https://localhost:${listener.port}/api`,
        '  auth: { type: bearer, value: "{api_key}" }',
        'verification: { method: GET, path: /me }',
        '',
      ].join('\n'),
    );
    // Plain http is allowed for the provider on 127.0.0.1; private addresses are not (the default).
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_INSECURE_PROVIDERS: 'true', COFFER_VERIFY_CREDENTIALS: 'true', COFFER_REFRESH_INTERVAL_SECONDS: '0' });
    expect(coffer.runtime.ctx.outbound.policy.allowPrivateNetworks).toBe(false);
    provider.init([`${coffer.url}/vault/callback`]);
    for (const id of ['named-loopback', 'listener-grant']) {
      await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, id, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    }
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  });
  afterEach(() => expect(listener.connections()).toBe(0));
  afterAll(async () => {
    await coffer?.close();
    if (coffer?.schema) await dropSchema(coffer.schema);
    await provider?.close();
    await listener?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the code exchange is refused: the provider’s token endpoint never hears of the code', async () => {
    const view = await okJson(await call(coffer, 'rita', 'GET', '/vault/connections/crm/named-loopback'));
    const run = await runBrowser(withParams(view.data.authorize_url, { redirect_uri: APP_REDIRECT }));
    expect(run.url.searchParams.get('error_type'), run.hops.join('\n')).toBe('token_exchange_failed');
    expect(run.url.searchParams.get('error_message')).toContain('private or loopback');
    expect(provider.tokenRequests.authorization_code).toBeUndefined();
    const after = await okJson(await call(coffer, 'rita', 'GET', '/vault/connections/crm/named-loopback'));
    expect(after.data.state).not.toBe('callable');
  });

  it('a refresh is refused the same way', async () => {
    const imported = await call(coffer, 'rita', 'POST', '/vault/connections/crm/named-loopback/import', {
      credentials: { access_token: 'imported-at', refresh_token: 'imported-rt', expires_in: 0 },
    });
    expect(imported.status, await imported.text()).toBe(200);
    await expectErrorEnvelope(await call(coffer, 'rita', 'GET', '/vault/connections/crm/named-loopback/credentials'), 400, 'RequestValidationError');
    expect(provider.tokenRequests.refresh_token).toBeUndefined();
  });

  it('a client_credentials grant, a verification and a Flows token endpoint open no connection to loopback', async () => {
    await okJson(await call(coffer, 'rita', 'POST', '/vault/connections/crm/listener-grant', {}));
    await expectErrorEnvelope(await call(coffer, 'rita', 'POST', '/vault/connections/crm/listener-grant/token', {}), 400, 'RequestValidationError');
    await expectErrorEnvelope(await call(coffer, 'rita', 'PATCH', '/vault/connections/crm/listener-key', { settings: { api_key: 'rita-key' } }), 400, 'RequestValidationError');
    const token = await managementToken(coffer);
    const flows = await flowsCall(coffer, token, 'POST', '', {
      app_id: 'HTTP',
      name: 'loopback',
      setup: { type: 'OAUTH_CLIENT_CREDENTIALS', client_id: 'c', client_secret: 'flows-secret', token_endpoint: `https://localhost:${listener.port}/token` },
    });
    expect(flows.status, flows.text).toBe(400);
  });
});
