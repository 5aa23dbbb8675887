// The proxy over raw HTTP against a REAL upstream on 127.0.0.1: every verb on `/proxy` and `/vault/proxy`, the four
// injection styles, skip-injection, hop-by-hop headers, status and body passed through unchanged, the host rules,
// the caller's errors, timeouts, unreachable providers, and the request log.
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setProxyAllowedHosts } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson } from '../support/envelope.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { basicHeader, writeConnectorDir } from '../support/upstream.js';
import { connect, proxyConnectors, proxyHeaders } from './support.js';

const KEY = 'px-stored-key-5d1e';

function rawRequest(url: string, method: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

describe.each(backends)('proxy over raw HTTP (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;
  const consumer = 'proxy-raw';

  const call = (path: string, serviceId: string, downstreamUrl: string, init: RequestInit & { extra?: Record<string, string> } = {}) =>
    fetch(`${coffer.url}${path}`, { ...init, headers: { ...proxyHeaders(coffer, consumer, serviceId, downstreamUrl, init.extra), ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    dir = writeConnectorDir('coffer-proxy-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, consumer, 'px-bearer', { api_key: KEY });
    await connect(coffer, consumer, 'px-header', { api_key: KEY, tenant: 'acme' });
    await connect(coffer, consumer, 'px-query', { api_key: KEY });
    await connect(coffer, consumer, 'px-basic', { username: 'ada', password: 'pw-9f2c' });
    upstream.accepts = (credential) => credential === KEY || credential === 'ada:pw-9f2c' || credential === 'callers-own-token';
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each verb on /proxy and /vault/proxy reaches the provider with its method, body and the injected key', async () => {
    for (const path of ['/proxy', '/vault/proxy']) {
      for (const method of VERBS) {
        if (path === '/vault/proxy' && method === 'OPTIONS') continue;
        const withBody = method !== 'GET' && method !== 'OPTIONS';
        const res = await call(path, 'px-bearer', `${upstream.url}/bearer/echo?page=2`, {
          method,
          ...(withBody ? { body: JSON.stringify({ verb: method }), headers: { 'content-type': 'application/json' } } : {}),
        });
        const body = await okJson(res);
        expect(body.method, `${method} ${path}`).toBe(method);
        expect(body.path).toBe('/bearer/echo');
        expect(body.query).toEqual({ page: '2' });
        expect(body.headers.authorization).toBe(`Bearer ${KEY}`);
        expect(body.body).toBe(withBody ? JSON.stringify({ verb: method }) : '');
        if (withBody) expect(body.headers['content-type']).toBe('application/json');
      }
    }
    // HEAD too (no body either way).
    const head = await call('/proxy', 'px-bearer', `${upstream.url}/bearer/echo`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(upstream.take().at(-1)?.method).toBe('HEAD');
  });

  it('x-apideck-downstream-method overrides the method; a path is taken relative to the connector API base URL', async () => {
    const res = await call('/vault/proxy', 'px-bearer', '/echo', { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, extra: { 'x-apideck-downstream-method': 'PUT' } });
    const body = await okJson(res);
    expect(body).toMatchObject({ method: 'PUT', path: '/bearer/echo', body: 'a=1' });
    expect(body.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('injection styles: bearer, header (plus connector headers), query and basic; the caller key never reaches the provider', async () => {
    upstream.take();
    const bearer = await okJson(await call('/proxy', 'px-bearer', `${upstream.url}/bearer/echo`));
    expect(bearer.headers.authorization).toBe(`Bearer ${KEY}`);

    const header = await okJson(await call('/proxy', 'px-header', `${upstream.url}/header/echo`));
    expect(header.headers['x-api-key']).toBe(KEY);
    expect(header.headers['x-client']).toBe('coffer-acme');
    expect(header.headers.authorization).toBeUndefined();

    const query = await okJson(await call('/proxy', 'px-query', `${upstream.url}/query/echo?q=x`));
    expect(query.query).toEqual({ q: 'x', apikey: KEY });
    expect(query.headers.authorization).toBeUndefined();

    const basic = await okJson(await call('/proxy', 'px-basic', `${upstream.url}/basic/echo`));
    expect(basic.headers.authorization).toBe(basicHeader('ada', 'pw-9f2c'));

    for (const seen of upstream.take()) {
      expect(JSON.stringify(seen.headers)).not.toContain(coffer.apiKey);
      expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-apideck-'))).toEqual([]);
    }
  });

  it('a changed credential is used by the very next call; a deleted connection is not proxied', async () => {
    const who = 'proxy-rotating';
    await connect(coffer, who, 'px-bearer', { api_key: KEY });
    const as = (url: string) => call('/proxy', 'px-bearer', url, { headers: { 'x-apideck-consumer-id': who } });
    expect((await okJson(await as(`${upstream.url}/bearer/echo`))).headers.authorization).toBe(`Bearer ${KEY}`);
    await connect(coffer, who, 'px-bearer', { api_key: 'callers-own-token' });
    expect((await okJson(await as(`${upstream.url}/bearer/echo`))).headers.authorization).toBe('Bearer callers-own-token');
    const deleted = await fetch(`${coffer.url}/vault/connections/crm/px-bearer`, { method: 'DELETE', headers: coffer.headers(who) });
    expect(deleted.status).toBe(204);
    await expectErrorEnvelope(await as(`${upstream.url}/bearer/echo`), 404, 'EntityNotFoundError');
  });

  it('x-apideck-downstream-authorization skips injection: the provider gets exactly that header', async () => {
    const bearer = await okJson(await call('/proxy', 'px-bearer', `${upstream.url}/bearer/echo`, { extra: { 'x-apideck-downstream-authorization': 'Bearer callers-own-token' } }));
    expect(bearer.headers.authorization).toBe('Bearer callers-own-token');
    const query = await call('/proxy', 'px-query', `${upstream.url}/query/echo`, { extra: { 'x-apideck-downstream-authorization': 'Token abc' } });
    // No apikey parameter injected: the provider refuses, and says so unchanged.
    expect(query.status).toBe(401);
    expect(await query.json()).toEqual({ message: 'credential missing' });
    const seen = upstream.take().at(-1)!;
    expect(seen.search).toBe('');
    expect(seen.headers.authorization).toBe('Token abc');
  });

  it('provider status, headers and body come back unchanged; hop-by-hop headers are dropped both ways', async () => {
    // node:http, not fetch: fetch will not send Connection or TE.
    const created = await rawRequest(`${coffer.url}/proxy`, 'POST', {
      ...proxyHeaders(coffer, consumer, 'px-bearer', `${upstream.url}/bearer/echo?status=201`),
      connection: 'keep-alive, x-hop-in',
      'x-hop-in': 'caller-only',
      'x-custom': 'passed',
      te: 'trailers',
      cookie: 'coffer=session',
    }, 'x');
    expect(created.status).toBe(201);
    expect(created.headers['x-upstream']).toBe('kept');
    expect(created.headers['x-hop']).toBeUndefined();
    const echoed = JSON.parse(created.body);
    expect(echoed.headers['x-custom']).toBe('passed');
    expect(echoed.headers['x-hop-in']).toBeUndefined();
    expect(echoed.headers.te).toBeUndefined();
    expect(echoed.headers.cookie).toBeUndefined();

    const teapot = await call('/proxy', 'px-bearer', `${upstream.url}/bearer/text?status=418`);
    expect(teapot.status).toBe(418);
    expect(teapot.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await teapot.text()).toBe('plain words from upstream');

    const missing = await call('/proxy', 'px-bearer', `${upstream.url}/bearer/nowhere`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'No route /bearer/nowhere' });
  });

  it('refuses a foreign host with 403 and sends nothing; the application allow-list opens a host', async () => {
    upstream.take();
    for (const foreign of ['https://evil.example/steal', 'http://localhost:1/x']) {
      const { body, text } = await expectErrorEnvelope(await call('/proxy', 'px-bearer', foreign), 403, 'ForbiddenError');
      expect(body.message).toContain(new URL(foreign).host);
      expect(body.message).toContain('allow-list');
      expect(text).not.toContain(KEY);
    }
    expect(upstream.take()).toEqual([]);

    // The same upstream under another name, allowed for this application only.
    const viaName = upstream.url.replace('127.0.0.1', 'localhost') + '/bearer/echo';
    await expectErrorEnvelope(await call('/proxy', 'px-bearer', viaName), 403, 'ForbiddenError');
    await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, ['localhost']);
    try {
      const allowed = await okJson(await call('/proxy', 'px-bearer', viaName));
      expect(allowed.headers.authorization).toBe(`Bearer ${KEY}`);
    } finally {
      await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, []);
    }
    await expectErrorEnvelope(await call('/proxy', 'px-bearer', viaName), 403, 'ForbiddenError');
  });

  it("the caller's mistakes are 4xx envelopes", async () => {
    const url = `${upstream.url}/bearer/echo`;
    const noService = await fetch(`${coffer.url}/proxy`, { headers: { ...coffer.headers(consumer), 'x-apideck-downstream-url': url } });
    expect((await expectErrorEnvelope(noService, 400, 'RequestHeadersValidationError')).body.message).toBe('Missing Header: x-apideck-service-id');
    const noUrl = await fetch(`${coffer.url}/proxy`, { headers: { ...coffer.headers(consumer), 'x-apideck-service-id': 'px-bearer' } });
    expect((await expectErrorEnvelope(noUrl, 400, 'RequestHeadersValidationError')).body.message).toBe('Missing Header: x-apideck-downstream-url');
    const noConsumer = await fetch(`${coffer.url}/proxy`, { headers: { ...coffer.headers(), 'x-apideck-service-id': 'px-bearer', 'x-apideck-downstream-url': url } });
    expect((await expectErrorEnvelope(noConsumer, 400, 'RequestHeadersValidationError')).body.message).toBe('Missing Header: x-apideck-consumer-id');
    const badKey = await fetch(`${coffer.url}/proxy`, { headers: { ...proxyHeaders(coffer, consumer, 'px-bearer', url), authorization: 'Bearer nope' } });
    await expectErrorEnvelope(badKey, 401, 'UnauthorizedError');

    await expectErrorEnvelope(await call('/proxy', 'px-query', url, { headers: { 'x-apideck-consumer-id': 'nobody-here' } }), 404, 'EntityNotFoundError');
    await expectErrorEnvelope(await call('/proxy', 'no-such-service', url), 404, 'EntityNotFoundError');
    await expectErrorEnvelope(await call('/proxy', 'px-bearer', 'ftp://127.0.0.1/x'), 400, 'RequestValidationError');
    await expectErrorEnvelope(await call('/proxy', 'px-bearer', url, { extra: { 'x-apideck-downstream-method': 'BREW' } }), 400, 'RequestValidationError');
    await expectErrorEnvelope(await call('/proxy', 'px-bearer', url, { extra: { 'x-apideck-timeout': 'soon' } }), 400, 'RequestValidationError');

    // Added but not callable (a required setting is missing).
    const partial = await fetch(`${coffer.url}/vault/connections/crm/px-header`, {
      method: 'PATCH',
      headers: { ...coffer.headers('proxy-partial'), 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { api_key: 'k' } }),
    });
    expect((await okJson(partial)).data.state).toBe('added');
    const { body } = await expectErrorEnvelope(await call('/proxy', 'px-header', `${upstream.url}/header/echo`, { headers: { 'x-apideck-consumer-id': 'proxy-partial' } }), 422, 'InvalidStateError');
    expect(body.message).toContain('not callable');
  });

  it('an unreachable provider is a 502, a slow one a 504 (x-apideck-timeout)', async () => {
    await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, ['127.0.0.1']);
    try {
      // Port 9 (discard) on loopback: nothing listens in the test environment.
      const { body } = await expectErrorEnvelope(await call('/proxy', 'px-bearer', 'http://127.0.0.1:9/x'), 502, 'ConnectorExecutionError');
      expect(body.message).toContain('Could not reach Bearer CRM');
    } finally {
      await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, []);
    }
    const started = Date.now();
    const { body } = await expectErrorEnvelope(await call('/proxy', 'px-bearer', `${upstream.url}/bearer/slow?ms=3000`, { extra: { 'x-apideck-timeout': '300' } }), 504, 'ConnectorExecutionError');
    expect(body.message).toBe('Bearer CRM did not answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('logs each call as unified_api "proxy" with the service, the provider time and the latency added; counts it', async () => {
    const fresh = 'proxy-logged';
    await connect(coffer, fresh, 'px-bearer', { api_key: KEY });
    await okJson(await call('/proxy', 'px-bearer', `${upstream.url}/bearer/slow?ms=120`, { headers: { 'x-apideck-consumer-id': fresh } }));
    await connect(coffer, fresh, 'px-query', { api_key: KEY });
    await okJson(await call('/proxy', 'px-query', `${upstream.url}/query/echo`, { headers: { 'x-apideck-consumer-id': fresh } }));
    await okJson(await call('/proxy', 'px-bearer', `${upstream.url}/bearer/echo`, { headers: { 'x-apideck-consumer-id': fresh } }));
    await coffer.server.logs.flush();
    const logs = await okJson(await fetch(`${coffer.url}/vault/logs?filter[exclude_unified_apis]=vault`, { headers: coffer.headers(fresh) }));
    const proxied = logs.data.filter((l: any) => l.unified_api === 'proxy');
    expect(proxied.length).toBe(3);
    const slow = proxied.find((l: any) => l.path === '/bearer/slow')!;
    expect(slow).toMatchObject({ unified_api: 'proxy', service: { id: 'px-bearer', name: 'Bearer CRM' }, http_method: 'GET', status_code: 200, success: true, base_url: upstream.url });
    expect(slow.duration).toBeGreaterThanOrEqual(100);
    expect(slow.latency).toBeGreaterThanOrEqual(0);
    expect(slow.execution).toBeGreaterThanOrEqual(slow.duration - 1);
    // The query string (where query-style injection puts the key) is never logged.
    expect(JSON.stringify(logs)).not.toContain(KEY);
    const stats = await okJson(await fetch(`${coffer.url}/vault/consumers/${fresh}`, { headers: coffer.headers() }));
    expect(stats.data.request_counts.proxy).toBe(3);
  });
});

describe('proxy to private addresses when they are not allowed (sqlite)', () => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    dir = writeConnectorDir('coffer-proxy-private-', proxyConnectors(upstream.url));
    // Only plain http is allowed: loopback stays refused.
    coffer = await startCoffer('sqlite', { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, 'priv', 'px-bearer', { api_key: KEY });
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a loopback address, and a name that resolves to one at connect time, before anything is sent', async () => {
    const headers = (url: string) => proxyHeaders(coffer, 'priv', 'px-bearer', url);
    const literal = await fetch(`${coffer.url}/proxy`, { headers: headers(`${upstream.url}/bearer/echo`) });
    expect((await expectErrorEnvelope(literal, 400, 'RequestValidationError')).body.message).toContain('private or loopback');

    await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, ['localhost']);
    const named = await fetch(`${coffer.url}/proxy`, { headers: headers(`${upstream.url.replace('127.0.0.1', 'localhost')}/bearer/echo`) });
    const { text } = await expectErrorEnvelope(named, 400, 'RequestValidationError');
    expect(text).toContain('private or loopback');
    expect(text).not.toContain(KEY);
    expect(upstream.take()).toEqual([]);
  });
});
