// `@apideck/unify`'s proxy.get/post/put/patch/delete/options against a real Coffer and a real upstream on 127.0.0.1:
// what the SDK hands back is what the provider answered, with the consumer's key injected.
import fs from 'node:fs';
import { Apideck } from '@apideck/unify';
import { APIError } from '@apideck/unify/models/errors/apierror.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { connect, proxyConnectors } from './support.js';

const KEY = 'sdk-proxy-key-41c7';

describe.each(backends)('proxy through @apideck/unify (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;
  let sdk: Apideck;
  const consumer = 'sdk-proxy';
  const echo = (query = '') => `${upstream.url}/bearer/echo${query}`;
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    upstream.accepts = (credential) => credential === KEY || credential === 'sdk-callers-token';
    dir = writeConnectorDir('coffer-proxy-sdk-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, consumer, 'px-bearer', { api_key: KEY });
    sdk = new Apideck({ serverURL: coffer.url, apiKey: coffer.apiKey, appId: coffer.appId, consumerId: consumer, retryConfig: { strategy: 'none' } });
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('get, options and delete reach the provider with their method and the injected key', async () => {
    for (const [method, run] of [
      ['GET', () => sdk.proxy.get({ serviceId: 'px-bearer', downstreamUrl: echo('?a=1') })],
      ['OPTIONS', () => sdk.proxy.options({ serviceId: 'px-bearer', downstreamUrl: echo('?a=1') })],
      ['DELETE', () => sdk.proxy.delete({ serviceId: 'px-bearer', downstreamUrl: echo('?a=1') })],
    ] as const) {
      const result = await run();
      expect(result.httpMeta.response.status).toBe(200);
      expect(result.responseJson, method).toMatchObject({ method, path: '/bearer/echo', query: { a: '1' } });
      expect(result.responseJson!.headers.authorization).toBe(`Bearer ${KEY}`);
    }
  });

  it('post, put and patch send their body to the provider unchanged', async () => {
    for (const [method, run] of [
      ['POST', (body: Uint8Array) => sdk.proxy.post({ serviceId: 'px-bearer', downstreamUrl: echo(), requestBody: body })],
      ['PUT', (body: Uint8Array) => sdk.proxy.put({ serviceId: 'px-bearer', downstreamUrl: echo(), requestBody: body })],
      ['PATCH', (body: Uint8Array) => sdk.proxy.patch({ serviceId: 'px-bearer', downstreamUrl: echo(), requestBody: body })],
    ] as const) {
      const payload = { name: `via ${method}`, n: 3 };
      const result = await run(bytes(payload));
      expect(result.responseJson, method).toMatchObject({ method, body: JSON.stringify(payload) });
      expect(result.responseJson!.headers.authorization).toBe(`Bearer ${KEY}`);
    }
  });

  it('a 201 and a text body come back as the provider sent them; a provider 404 is the SDK error with its body', async () => {
    const created = await sdk.proxy.post({ serviceId: 'px-bearer', downstreamUrl: echo('?status=201'), requestBody: bytes({ x: 1 }) });
    expect(created.httpMeta.response.status).toBe(201);
    expect(created.errorJson).toMatchObject({ method: 'POST', body: '{"x":1}' });

    const text = await sdk.proxy.get({ serviceId: 'px-bearer', downstreamUrl: `${upstream.url}/bearer/text` });
    expect(text.responseText).toBe('plain words from upstream');

    const failure = await sdk.proxy.get({ serviceId: 'px-bearer', downstreamUrl: `${upstream.url}/bearer/nowhere` }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).httpMeta.response.status).toBe(404);
    expect(JSON.parse((failure as APIError).httpMeta.body)).toEqual({ message: 'No route /bearer/nowhere' });
  });

  it('downstreamAuthorization skips injection', async () => {
    const result = await sdk.proxy.get({ serviceId: 'px-bearer', downstreamUrl: echo(), downstreamAuthorization: 'Bearer sdk-callers-token' });
    expect(result.responseJson!.headers.authorization).toBe('Bearer sdk-callers-token');
  });
});
