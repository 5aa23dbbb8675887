// What a caller does at the edges of HTTP never hangs a connection, never counts against the provider's health and is
// never logged as our error: `Expect: 100-continue`, a large body on a call that fails before reading it, a HEAD as the
// downstream method of a GET, a provider's bodyless answers, a provider that closes early, and a caller that hangs up
// while the provider answers.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.js';
import { setProxyAllowedHosts } from '../../src/vault/applications.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson } from '../support/envelope.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { RawConnection, rawRequest } from './raw-http.js';
import { connect, proxyConnectors, proxyHeaders } from './support.js';

const KEY = 'edges-key-5d21';
const KIB = 1024;

/** Rejects after `ms` with `what`: a hang becomes a clear failure. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<T>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Resolves once `condition` holds; fails (never hangs) after 5 s. */
function until(condition: () => boolean, what: string): Promise<void> {
  return within(
    (async () => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    5000,
    what,
  );
}

/**
 * A provider that holds its answer: `/held-headers` and `/sink` (which reads the request body) send nothing,
 * `/held-body` sends its head and one chunk.
 */
async function startHoldingProvider() {
  const received: string[] = [];
  const closed: string[] = [];
  const bodyBytes: number[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = http.createServer((req, res) => {
    received.push(req.url ?? '');
    res.on('close', () => closed.push(req.url ?? ''));
    req.on('data', (chunk: Buffer) => bodyBytes.push(chunk.length));
    req.on('error', () => {});
    if (req.url === '/held-body') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(1024 * KIB) });
      res.write(Buffer.alloc(16 * KIB, 1));
    }
    void released.then(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    closed,
    bodyBytes,
    close: () => {
      release();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A provider answering with exactly these bytes on every request (answers node itself would not write), as soon as
 * the request's head came, without reading its body; then, on the paths in `closing`, closing the connection (an empty
 * answer there: closing without a word).
 */
async function startCannedProvider(answers: Record<string, string>, closing: string[] = []) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = head.split(' ')[1];
      head = head.slice(end + 4);
      const answer = answers[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n';
      if (closing.includes(path)) socket.end(answer, 'latin1');
      else socket.write(answer, 'latin1');
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(backends)('a proxied call at the edges of HTTP (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;
  let provider: Awaited<ReturnType<typeof startHoldingProvider>>;
  const consumer = 'edge-caller';
  const headers = (url: string, extra: Record<string, string> = {}) => proxyHeaders(coffer, consumer, 'px-bearer', url, extra);
  const health = async () => (await okJson(await fetch(`${coffer.url}/vault/connections/crm/px-bearer`, { headers: coffer.headers(consumer) }))).data.health;

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    provider = await startHoldingProvider();
    upstream.accepts = (credential) => credential === KEY;
    dir = writeConnectorDir('coffer-proxy-edges-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, consumer, 'px-bearer', { api_key: KEY });
    // Lets calls reach the test's own providers (and port 9, where nothing listens) on loopback.
    await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, ['127.0.0.1']);
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    await provider?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    upstream.take();
  });

  it('Expect: 100-continue is answered by Coffer and never forwarded; the call succeeds and health stays ok', async () => {
    for (const path of ['/proxy', '/vault/proxy']) {
      const conn = await RawConnection.open(coffer.url);
      try {
        const body = Buffer.alloc(70 * KIB, 'a');
        conn.send(rawRequest('POST', path, { ...headers(`${upstream.url}/bearer/echo`), expect: '100-continue', 'content-type': 'text/plain' }, body));
        const answer = await conn.next();
        expect(answer.interim).toEqual([100]);
        expect(answer.status, answer.body.toString()).toBe(200);
        const echoed = JSON.parse(answer.body.toString());
        expect(echoed.body).toBe(body.toString());
        expect(echoed.headers.expect).toBeUndefined();
      } finally {
        conn.close();
      }
    }
    expect(await health()).toBe('ok');
  });

  it("a caller's own mistakes never mark the connection degraded: a timeout it shortened, an upload it cut off", async () => {
    const slow = await fetch(`${coffer.url}/proxy`, { headers: headers(`${upstream.url}/bearer/slow?ms=2000`, { 'x-apideck-timeout': '50' }) });
    await expectErrorEnvelope(slow, 504, 'ConnectorExecutionError');
    expect(await health()).toBe('ok');

    // Half of the announced body, then the caller hangs up while the provider is reading it: the provider call is
    // aborted, the next call is served and the connection was never marked degraded.
    const conn = await RawConnection.open(coffer.url);
    const announced = rawRequest('POST', '/proxy', { ...headers(`${provider.url}/sink`), 'content-type': 'application/octet-stream' }, Buffer.alloc(256 * KIB, 7));
    conn.send(announced.subarray(0, announced.length - 128 * KIB));
    await until(() => provider.bodyBytes.length > 0, 'the first chunk reaching the provider');
    conn.close();
    await until(() => provider.closed.includes('/sink'), "the provider's request being aborted");
    await okJson(await fetch(`${coffer.url}/proxy`, { headers: headers(`${upstream.url}/bearer/echo`) }));
    expect(await health()).toBe('ok');
  });

  describe('a large body on a call that ends before reading it leaves the keep-alive connection usable', () => {
    const cases: Array<[string, () => { service: string; url: string }, number, string]> = [
      ['an unknown service', () => ({ service: 'no-such-service', url: `${upstream.url}/bearer/echo` }), 404, 'EntityNotFoundError'],
      ['a foreign host', () => ({ service: 'px-bearer', url: 'https://elsewhere.example/x' }), 403, 'ForbiddenError'],
      ['an unreachable provider', () => ({ service: 'px-bearer', url: 'http://127.0.0.1:9/x' }), 502, 'ConnectorExecutionError'],
    ];
    for (const [what, target, status, typeName] of cases) {
      for (const size of [64 * KIB, 1024 * KIB]) {
        it(`${what}, ${size / KIB} KiB: answered, then the next request on the connection is answered`, async () => {
          const { service, url } = target();
          const conn = await RawConnection.open(coffer.url);
          try {
            const h = { ...proxyHeaders(coffer, consumer, service, url), 'content-type': 'application/octet-stream' };
            conn.send(rawRequest('POST', '/proxy', h, Buffer.alloc(size, 3)));
            const first = await conn.next();
            expect(first.status).toBe(status);
            expect(JSON.parse(first.body.toString()).type_name).toBe(typeName);
            conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/echo`)));
            const second = await conn.next();
            expect(second.status).toBe(200);
            expect(JSON.parse(second.body.toString()).method).toBe('GET');
          } finally {
            conn.close();
          }
        });
      }
    }

    it('a body the provider call never sends (GET downstream method) does not block the connection either', async () => {
      const conn = await RawConnection.open(coffer.url);
      try {
        const h = { ...headers(`${upstream.url}/bearer/echo`, { 'x-apideck-downstream-method': 'GET' }), 'content-type': 'text/plain' };
        conn.send(rawRequest('POST', '/proxy', h, Buffer.alloc(512 * KIB, 'b')));
        const first = await conn.next();
        expect(first.status).toBe(200);
        expect(JSON.parse(first.body.toString())).toMatchObject({ method: 'GET', body: '' });
        conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/echo`)));
        expect((await conn.next()).status).toBe(200);
      } finally {
        conn.close();
      }
    });
  });

  it('HEAD as the downstream method of a GET: the provider headers with an empty body, and the connection goes on', async () => {
    const conn = await RawConnection.open(coffer.url);
    try {
      conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/stream?bytes=5000`, { 'x-apideck-downstream-method': 'HEAD' })));
      const answer = await conn.next();
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/octet-stream');
      expect(answer.headers['content-length']).toBe('0');
      expect(answer.body.length).toBe(0);
      conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/echo`)));
      expect((await conn.next()).status).toBe(200);
    } finally {
      conn.close();
    }
    expect(upstream.take().map((s) => s.method)).toEqual(['HEAD', 'GET']);

    // A real HEAD still tells the length of what a GET would get.
    const head = await fetch(`${coffer.url}/proxy`, { method: 'HEAD', headers: headers(`${upstream.url}/bearer/stream?bytes=5000`) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5000');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("a provider's bodyless answers carrying a length or a body, and a chunked one, reach the caller whole", async () => {
    const canned = await startCannedProvider({
      '/no-content': 'HTTP/1.1 204 No Content\r\ncontent-length: 5\r\nx-from: provider\r\n\r\n',
      '/not-modified': 'HTTP/1.1 304 Not Modified\r\ncontent-length: 100\r\netag: "v1"\r\n\r\n',
      '/chunked': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    });
    const conn = await RawConnection.open(coffer.url);
    try {
      conn.send(rawRequest('GET', '/proxy', headers(`${canned.url}/no-content`)));
      const noContent = await conn.next();
      expect(noContent.status).toBe(204);
      expect(noContent.headers['x-from']).toBe('provider');
      expect(noContent.headers['content-length']).toBeUndefined();

      conn.send(rawRequest('GET', '/proxy', headers(`${canned.url}/not-modified`)));
      const notModified = await conn.next();
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe('"v1"');

      conn.send(rawRequest('GET', '/proxy', headers(`${canned.url}/chunked`)));
      const chunked = await conn.next();
      expect(chunked.status).toBe(200);
      expect(chunked.body.toString()).toBe('hello world');

      conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/echo`)));
      expect((await conn.next()).status).toBe(200);
    } finally {
      conn.close();
      await canned.close();
    }
  });

  it('odd methods and header values get an error envelope, never a 500, a hang or a silent close', async () => {
    const h = headers(`${upstream.url}/bearer/echo`);
    const envelopeOf = async (bytes: Buffer) => {
      const conn = await RawConnection.open(coffer.url);
      try {
        conn.send(bytes);
        const answer = await conn.next();
        return { status: answer.status, body: JSON.parse(answer.body.toString()) };
      } finally {
        conn.close();
      }
    };
    for (const method of ['PROPFIND', 'TRACE', 'SEARCH']) {
      const { status, body } = await envelopeOf(rawRequest(method, '/proxy', h));
      expect(status, method).toBe(404);
      expect(body).toMatchObject({ status_code: 404, type_name: 'NotFoundError' });
    }
    const connect = await envelopeOf(Buffer.from('CONNECT provider.example:443 HTTP/1.1\r\nhost: provider.example:443\r\n\r\n'));
    expect(connect).toMatchObject({ status: 405, body: { status_code: 405, type_name: 'MethodNotAllowedError' } });
    // A NUL or a bare CR in the downstream URL (or any header) never reaches a route.
    for (const bad of ['http://127.0.0.1/a\u0000b', '/a\rb']) {
      const { status, body } = await envelopeOf(rawRequest('GET', '/proxy', { ...h, 'x-apideck-downstream-url': bad }));
      expect(status).toBe(400);
      expect(body).toMatchObject({ status_code: 400, type_name: 'BadRequestError' });
    }
    for (const bad of ['http://exa mple.com/', 'http://[::1/x']) {
      const res = await fetch(`${coffer.url}/proxy`, { headers: headers(bad) });
      await expectErrorEnvelope(res, 400, 'RequestValidationError');
    }
    // A 4 KB path and a non-ASCII header value are passed on as they are.
    const long = `/${'a'.repeat(4096)}`;
    const longCall = await fetch(`${coffer.url}/proxy`, { headers: { ...headers(long), 'x-note': 'caf\u00e9' } });
    expect(longCall.status).toBe(404);
    expect((await longCall.json()).message).toBe(`No route /bearer${long}`);
  });

  describe('a provider that closes its connection early always gets the caller an answer', () => {
    // What the fuzzer's provider stub answers on /truncated: a 200 that announces 100 bytes, sends 11 and closes.
    const TRUNCATED = 'HTTP/1.1 200 OK\r\nx-from: provider\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"partial":';
    let canned: Awaited<ReturnType<typeof startCannedProvider>>;
    beforeAll(async () => {
      canned = await startCannedProvider(
        {
          '/truncated': TRUNCATED,
          '/head-only': 'HTTP/1.1 200 OK\r\nx-from: provider\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n',
          '/closed': '',
        },
        ['/truncated', '/head-only', '/closed'],
      );
    });
    afterAll(async () => {
      await canned?.close();
    });

    /** A call to the canned provider over a raw connection: the answer, cut short or whole, never none. */
    const call = async (conn: RawConnection, method: string, path: string, body: Buffer | null) => {
      const h = { ...headers(`${canned.url}${path}`, { 'x-apideck-timeout': '2500' }), 'content-type': 'application/json' };
      conn.send(rawRequest(method, '/proxy', h, body));
      return conn.next(5000, { partial: true });
    };
    /** Coffer's 502 envelope without the provider's headers; the keep-alive connection then serves the next request. */
    const expectEnvelopeAndNextServed = async (conn: RawConnection, answer: Awaited<ReturnType<typeof call>>) => {
      expect(answer.status, answer.body.toString()).toBe(502);
      expect(answer.cutShort).toBeUndefined();
      expect(JSON.parse(answer.body.toString())).toMatchObject({ status_code: 502, type_name: 'ConnectorExecutionError' });
      expect(answer.headers['x-from']).toBeUndefined();
      conn.send(rawRequest('GET', '/proxy', headers(`${upstream.url}/bearer/echo`)));
      expect((await conn.next()).status).toBe(200);
    };
    const bodies: Array<[string, Buffer | null]> = [
      ['no body', null],
      ['a small body', Buffer.alloc(423, 'p')],
      ['a 1 MiB body it never reads', Buffer.alloc(1024 * KIB, 'p')],
    ];
    const methods = ['DELETE', 'POST', 'PATCH', 'PUT', 'GET', 'OPTIONS'];

    it("a body cut short while the connection's recovery is being recorded: answered, never a hang", async () => {
      for (const method of methods) {
        for (const [what, body] of bodies) {
          // A degraded connection makes the 200 below a recovery, whose write gives the provider time to close first.
          await expectErrorEnvelope(await fetch(`${coffer.url}/proxy`, { headers: headers('http://127.0.0.1:9/x') }), 502, 'ConnectorExecutionError');
          const conn = await RawConnection.open(coffer.url);
          try {
            const answer = await call(conn, method, '/truncated', body);
            if (answer.status === 502) await expectEnvelopeAndNextServed(conn, answer);
            else {
              // Streamed as it came: the provider's status and headers, the bytes it sent, then the close.
              expect(answer.status, `${method} with ${what}`).toBe(200);
              expect(answer.cutShort).toBe(true);
              expect(answer.headers['x-from']).toBe('provider');
              expect('{"partial":'.startsWith(answer.body.toString())).toBe(true);
            }
          } finally {
            conn.close();
          }
        }
      }
      await okJson(await fetch(`${coffer.url}/proxy`, { headers: headers(`${upstream.url}/bearer/echo`) }));
    });

    it('a head and no body, or a close without an answer: a 502 envelope, and the connection goes on', async () => {
      for (const method of methods) {
        for (const [, body] of bodies) {
          for (const path of ['/head-only', '/closed']) {
            const conn = await RawConnection.open(coffer.url);
            try {
              await expectEnvelopeAndNextServed(conn, await call(conn, method, path, body));
            } finally {
              conn.close();
            }
          }
        }
      }
    });
  });

  describe('a caller that hangs up', () => {
    let server: RunningServer;
    const lines: Array<{ level: number; msg: string; err?: { type?: string } }> = [];

    beforeAll(async () => {
      // A second server on the same runtime, logging to `lines`: what an operator would read.
      const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      server = await startServer(coffer.runtime, logger, { port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await server?.close();
    });

    const errorsLogged = () => lines.filter((l) => l.level >= 40).map((l) => `${l.msg} ${l.err?.type ?? ''}`);

    it('while the provider is still to send its headers: the provider call is aborted, logged at info only', async () => {
      const controller = new AbortController();
      const call = fetch(`${server.url}/proxy`, { headers: headers(`${provider.url}/held-headers`), signal: controller.signal });
      await until(() => provider.received.includes('/held-headers'), 'the call reaching the provider');
      controller.abort();
      await expect(call).rejects.toThrow();
      await until(() => provider.closed.includes('/held-headers'), "the provider's request being aborted");
      await until(() => lines.some((l) => l.msg.includes('caller went away')), 'the hang-up being logged');
      expect(lines.find((l) => l.msg.includes('caller went away'))?.level).toBe(30);
      expect(errorsLogged()).toEqual([]);
      expect(await health()).toBe('ok');
      await okJson(await fetch(`${server.url}/proxy`, { headers: headers(`${upstream.url}/bearer/echo`) }));
    });

    it('while the provider streams its body: no error logged, the provider stream is freed, the server keeps serving', async () => {
      const controller = new AbortController();
      const res = await fetch(`${server.url}/proxy`, { headers: headers(`${provider.url}/held-body`), signal: controller.signal });
      expect(res.status).toBe(200);
      expect((await res.body!.getReader().read()).done).toBe(false);
      controller.abort();
      await until(() => provider.closed.includes('/held-body'), "the provider's stream being closed");
      await okJson(await fetch(`${server.url}/proxy`, { headers: headers(`${upstream.url}/bearer/echo`) }));
      expect(errorsLogged()).toEqual([]);
      expect(await health()).toBe('ok');
    });
  });
});
