// The hot paths (src/http/hot-paths.ts) answer GET of a connection and of its credentials, and bodyless proxy calls,
// ahead of fastify: every request here is sent to a server with them and to a server without them, on one runtime,
// and the answers must be the same — status, headers and body — whether a hot path took the request or fastify did.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { setRequestRateLimit } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson, type Json } from '../support/envelope.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { connect, proxyConnectors } from '../proxy/support.js';

const CONSUMER = 'hot-reader';
const API_KEY_SECRET = 'pipedrive-secret-of-the-hot-reader';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Json;
}

const PROXY_KEY = 'upstream-key-of-the-hot-reader';

/** What may differ between two answers to one request: the date, a fresh authorize state, a second of expiry. */
function comparable(answer: Answer): Answer {
  const { date: _date, ...headers } = answer.headers;
  const text = JSON.stringify(answer.body).replace(/state=[A-Za-z0-9._~%-]+/g, 'state=<fresh>').replace(/"expires_in":\d+/g, '"expires_in":0');
  return { status: answer.status, headers, body: JSON.parse(text) as Json };
}

describe.each(backends)('hot paths (%s)', (backend) => {
  let coffer: TestCoffer;
  let plain: RunningServer;
  let other: { application_id: string; api_key: string };
  let upstream: ProxyUpstream;
  let connectorsDir: string;

  async function send(base: string, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
    const res = await fetch(`${base}${path}`, { method, headers });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), body: (res.headers.get('content-type')?.startsWith('application/json') && text ? JSON.parse(text) : text) as Json };
  }

  /** The answer of the server with hot reads, after checking the server without them answers the same. */
  async function both(path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
    // Twice through the hot server: the first call may warm a cache the second then answers from.
    await send(coffer.url, path, headers, method);
    const hot = await send(coffer.url, path, headers, method);
    const piped = await send(plain.url, path, headers, method);
    expect(comparable(hot), `${method} ${path}`).toEqual(comparable(piped));
    return hot;
  }

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    upstream.accepts = (credential) => credential === PROXY_KEY;
    connectorsDir = writeConnectorDir('coffer-hot-paths-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: connectorsDir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, CONSUMER, 'px-bearer', { api_key: PROXY_KEY });
    await connect(coffer, CONSUMER, 'px-query', { api_key: PROXY_KEY });
    plain = await startServer(coffer.runtime, createLogger('silent'), { port: 0, host: '127.0.0.1' }, { hotPaths: false });
    other = await coffer.createApp();
    const headers = { ...coffer.headers(CONSUMER), 'content-type': 'application/json' };
    const saved = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'POST', headers, body: JSON.stringify({ settings: { api_key: API_KEY_SECRET }, metadata: { tenant: 'first' } }) });
    expect(saved.status).toBe(200);
    const imported = await fetch(`${coffer.url}/vault/connections/crm/salesforce/import`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ credentials: { access_token: 'hot-access-token', refresh_token: 'hot-refresh-token', expires_in: 86_400 }, settings: { instance_url: 'https://hot.my.salesforce.com' } }),
    });
    expect(imported.status).toBe(200);
    // The other application: the same consumer id and connector, its own metadata.
    const otherHeaders = { authorization: `Bearer ${other.api_key}`, 'x-apideck-app-id': other.application_id, 'x-apideck-consumer-id': CONSUMER, 'content-type': 'application/json' };
    const otherSaved = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'POST', headers: otherHeaders, body: JSON.stringify({ settings: { api_key: 'the-other-tenants-key' }, metadata: { tenant: 'second' } }) });
    expect(otherSaved.status).toBe(200);
  });

  afterAll(async () => {
    await plain?.close();
    await coffer?.close();
    await upstream?.close();
    if (connectorsDir) fs.rmSync(connectorsDir, { recursive: true, force: true });
  });

  it('answers a connection and its credentials exactly as the full pipeline does', async () => {
    const read = await both('/vault/connections/crm/pipedrive', coffer.headers(CONSUMER));
    expect(read.status).toBe(200);
    expect(read.body.data).toMatchObject({ service_id: 'pipedrive', state: 'callable', metadata: { tenant: 'first' }, settings: { api_key: '********' } });
    expect(JSON.stringify(read.body)).not.toContain(API_KEY_SECRET);
    expect(read.headers['content-type']).toBe('application/json; charset=utf-8');

    const credentials = await both('/vault/connections/crm/salesforce/credentials', coffer.headers(CONSUMER));
    expect(credentials.status).toBe(200);
    expect(credentials.body.data).toMatchObject({ access_token: 'hot-access-token', token_type: 'Bearer' });
    expect(credentials.headers['cache-control']).toBe('no-store');

    const oauthView = await both('/vault/connections/crm/salesforce', coffer.headers(CONSUMER));
    expect(oauthView.body.data).toMatchObject({ service_id: 'salesforce', state: 'callable' });
  });

  it('answers what the operation refuses with the same error envelope', async () => {
    const cases: Array<[string, number]> = [
      ['/vault/connections/crm/no-such-connector', 404],
      ['/vault/connections/no-such-api/pipedrive', 400],
      ['/vault/connections/crm/pipedrive/credentials', 400],
      ['/vault/connections/crm/hubspot/credentials', 404],
    ];
    for (const [path, status] of cases) {
      const answer = await both(path, coffer.headers(CONSUMER));
      expect(answer.status, path).toBe(status);
      expect(answer.body, path).toMatchObject({ status_code: status, type_name: expect.any(String), message: expect.any(String) });
    }
    const unconnected = await both('/vault/connections/crm/pipedrive', coffer.headers('nobody-yet'));
    expect(unconnected.body.data).toMatchObject({ state: 'available' });
  });

  it('leaves every other shape of request to the full pipeline, with the same answers', async () => {
    const key = coffer.headers(CONSUMER);
    const created = await okJson(await fetch(`${coffer.url}/vault/sessions`, { method: 'POST', headers: { ...key, 'content-type': 'application/json' }, body: '{}' }), 200);
    const session = created.data.session_token as string;
    const requests: Array<[string, Record<string, string>, number, string?]> = [
      ['/vault/connections/crm/pipedrive', { ...key, origin: 'https://app.example' }, 200],
      ['/vault/connections/crm/pipedrive?extra=1', key, 200],
      ['/vault/connections/crm/pipe%64rive', key, 200],
      ['/vault/connections/crm/pipedrive/', key, 404],
      ['/vault/connections/crm/pipedrive', { ...key, 'x-apideck-consumer-id': 'x'.repeat(300) }, 400],
      ['/vault/connections/crm/pipedrive', { ...key, 'x-apideck-consumer-id': '' }, 400],
      ['/vault/connections/crm/pipedrive', { authorization: key.authorization, 'x-apideck-consumer-id': CONSUMER }, 400],
      ['/vault/connections/crm/pipedrive', { ...key, authorization: `Bearer ${other.api_key}` }, 401],
      ['/vault/connections/crm/pipedrive', { authorization: `Bearer ${session}`, 'x-apideck-auth-type': 'JWT' }, 200],
      ['/vault/connections/crm/salesforce/credentials', { authorization: `Bearer ${session}`, 'x-apideck-auth-type': 'JWT' }, 403],
      ['/vault/connections/crm/pipedrive', key, 200, 'HEAD'],
      ['/vault/connections/crm/pipedrive', key, 204, 'OPTIONS'],
    ];
    for (const [path, headers, status, method] of requests) {
      const answer = await both(path, headers, method);
      expect(answer.status, `${method ?? 'GET'} ${path} ${JSON.stringify(answer.body)}`).toBe(status);
    }
    const cors = await send(coffer.url, '/vault/connections/crm/pipedrive', { ...key, origin: 'https://app.example' });
    expect(cors.headers['access-control-allow-origin']).toBe('https://app.example');
  });

  it('answers proxy calls exactly as the full pipeline does, provider answers and failures alike', async () => {
    const proxy = (service: string, downstream: string, extra: Record<string, string> = {}) => ({
      ...coffer.headers(CONSUMER),
      'x-apideck-service-id': service,
      'x-apideck-downstream-url': downstream,
      ...extra,
    });
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo?page=2`), 200],
      ['GET', '/vault/proxy', proxy('px-query', `${upstream.url}/query/echo`), 200],
      ['DELETE', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo?status=204`), 204],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo?status=404`), 404],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/text?status=503`), 503],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo`, { 'x-apideck-downstream-method': 'HEAD' }), 200],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo`, { 'x-apideck-downstream-method': 'TRACE' }), 400],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo`, { 'x-apideck-timeout': 'soon' }), 400],
      ['GET', '/proxy', proxy('px-bearer', 'ftp://example.com/file'), 400],
      ['GET', '/proxy', proxy('no-such-connector', `${upstream.url}/bearer/echo`), 404],
      ['GET', '/proxy', { ...coffer.headers(CONSUMER), 'x-apideck-downstream-url': `${upstream.url}/bearer/echo` }, 400],
      ['GET', '/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo`, { 'x-apideck-service-id': 'x'.repeat(300) }), 400],
    ];
    for (const [method, path, headers, status] of cases) {
      const answer = await both(path, headers, method);
      expect(answer.status, `${method} ${path} ${headers['x-apideck-downstream-url']} ${JSON.stringify(answer.body)}`).toBe(status);
    }
    const echoed = await both('/proxy', proxy('px-bearer', `${upstream.url}/bearer/echo?page=2`));
    expect(echoed.body).toMatchObject({ method: 'GET', query: { page: '2' } });
    expect(echoed.headers['x-upstream']).toBe('kept');
    expect(echoed.headers['x-hop']).toBeUndefined();
    // The provider saw the stored key injected (its echo shows it), never the caller's Coffer key.
    expect(echoed.body.headers).toMatchObject({ authorization: `Bearer ${PROXY_KEY}` });
    expect(JSON.stringify(echoed.body)).not.toContain(coffer.apiKey);
  });

  it('never answers one tenant with another tenant’s connection', async () => {
    const mine = await both('/vault/connections/crm/pipedrive', coffer.headers(CONSUMER));
    const theirs = await both('/vault/connections/crm/pipedrive', {
      authorization: `Bearer ${other.api_key}`,
      'x-apideck-app-id': other.application_id,
      'x-apideck-consumer-id': CONSUMER,
    });
    expect(mine.body.data.metadata).toEqual({ tenant: 'first' });
    expect(theirs.body.data.metadata).toEqual({ tenant: 'second' });
    // A key that authenticated for its own application, presented for another one: refused, both ways.
    const crossed = await both('/vault/connections/crm/pipedrive', { ...coffer.headers(CONSUMER), 'x-apideck-app-id': other.application_id });
    expect(crossed.status).toBe(401);
  });

  it('logs every hot read as the pipeline logs its requests', async () => {
    const consumer = 'hot-logged';
    const before = await okJson(await fetch(`${coffer.url}/vault/logs`, { headers: coffer.headers(consumer) }));
    expect(before.data).toEqual([]);
    for (let i = 0; i < 3; i++) await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { headers: coffer.headers(consumer) });
    await fetch(`${coffer.url}/vault/connections/crm/no-such-connector`, { headers: coffer.headers(consumer) });
    const after = await okJson(await fetch(`${coffer.url}/vault/logs`, { headers: coffer.headers(consumer) }));
    const reads = (after.data as Json[]).filter((entry) => entry.operation.id === 'connectionsOne');
    expect(reads.map((entry) => entry.status_code).sort()).toEqual([200, 200, 200, 404]);
    expect(reads[0]).toMatchObject({ service: { id: expect.any(String) }, http_method: 'GET', consumer_id: consumer, unified_api: 'vault' });
  });

  it('counts hot reads against an application’s request limit', async () => {
    const limited = await coffer.createApp();
    await setRequestRateLimit(coffer.runtime.ctx, limited.application_id, 3);
    const headers = { authorization: `Bearer ${limited.api_key}`, 'x-apideck-app-id': limited.application_id, 'x-apideck-consumer-id': CONSUMER };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { headers })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});
