// A provider API for the proxy tests: a real HTTP server on 127.0.0.1. As in upstream.ts, the first path segment says
// where a request carries its credential (/bearer, /header, /query, /basic, /oauth); `accepts` decides which
// credentials are good (a 401 `{"message"}` otherwise). The last segment picks the answer:
//   echo    → 200 JSON of the request as it arrived (method, path, query, headers, body), or `?status=N` instead of 200
//   text    → 200 text/plain
//   stream  → `?bytes=N` bytes of application/octet-stream, written in 64 KiB chunks; `?gate=1` writes the first chunk,
//             then waits for `openGate()` before the rest (a proxy that buffers whole bodies never delivers it)
//   upload  → reads the request body as a stream and answers {bytes, sha256}; `firstChunk` resolves on its first chunk
//   slow    → answers after `?ms=N`
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentialOf, type Style } from './upstream.js';

export interface ProxySeen {
  method: string;
  path: string;
  search: string;
  headers: http.IncomingHttpHeaders;
  credential: string | null;
}

export interface ProxyUpstream {
  url: string;
  seen: ProxySeen[];
  accepts: (credential: string | null) => boolean;
  /** When set, every request is answered with this status and `{"message": "outage"}`. */
  failWith: number | null;
  openGate(): void;
  /** Resolves with the size of the first request-body chunk `upload` receives. */
  firstChunk: Promise<number>;
  /** Holds `upload` until the test calls it (after the first chunk arrived). */
  releaseUpload(): void;
  take(): ProxySeen[];
  close(): Promise<void>;
}

export const STYLES = ['bearer', 'header', 'query', 'basic', 'oauth'] as const;

/** Byte i of every streamed body: a pattern the receiver can check. */
export const patternByte = (i: number) => (i * 31 + 7) & 0xff;

export function patternChunk(offset: number, length: number): Buffer {
  const chunk = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) chunk[i] = patternByte(offset + i);
  return chunk;
}

export async function startProxyUpstream(): Promise<ProxyUpstream> {
  let openGate!: () => void;
  let gate = new Promise<void>((resolve) => (openGate = resolve));
  let gotFirstChunk!: (n: number) => void;
  let releaseUpload!: () => void;
  let uploadGate = new Promise<void>((resolve) => (releaseUpload = resolve));
  const upstream: ProxyUpstream = {
    url: '',
    seen: [],
    accepts: (credential) => credential !== null,
    failWith: null,
    openGate: () => {
      openGate();
      gate = new Promise<void>((resolve) => (openGate = resolve));
    },
    firstChunk: new Promise<number>((resolve) => (gotFirstChunk = resolve)),
    releaseUpload: () => {
      releaseUpload();
      uploadGate = new Promise<void>((resolve) => (releaseUpload = resolve));
    },
    take: () => upstream.seen.splice(0, upstream.seen.length),
    close: async () => {},
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.local');
    const segments = url.pathname.split('/').filter(Boolean);
    const style = (STYLES as readonly string[]).includes(segments[0]) ? (segments[0] as Style) : null;
    const credential = credentialOf(style, req, url);
    upstream.seen.push({ method: req.method ?? '', path: url.pathname, search: url.search.replace(/^\?/, ''), headers: req.headers, credential });
    const last = segments[segments.length - 1];
    const drain = async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    if (upstream.failWith !== null) {
      await drain();
      return json(res, upstream.failWith, { message: 'outage' });
    }
    if (!style || !upstream.accepts(credential)) {
      await drain();
      return json(res, 401, { message: `credential ${credential === null ? 'missing' : 'refused'}` });
    }
    switch (last) {
      case 'echo': {
        const body = await drain();
        const status = Number(url.searchParams.get('status') ?? 200);
        // A hop-by-hop header of this response (named in Connection) that must not reach the proxy's caller.
        res.setHeader('x-hop', 'upstream-only');
        res.setHeader('connection', 'keep-alive, x-hop');
        res.setHeader('x-upstream', 'kept');
        return json(res, status, {
          method: req.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body: body.toString('utf8'),
        });
      }
      case 'text':
        await drain();
        res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'text/plain; charset=utf-8' });
        return res.end('plain words from upstream');
      case 'stream': {
        await drain();
        const total = Number(url.searchParams.get('bytes') ?? 0);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
        const size = 64 * 1024;
        for (let offset = 0; offset < total; offset += size) {
          const ok = res.write(patternChunk(offset, Math.min(size, total - offset)));
          if (offset === 0 && url.searchParams.get('gate') === '1') await gate;
          else if (!ok) await new Promise((resolve) => res.once('drain', resolve));
        }
        return res.end();
      }
      case 'upload': {
        const hash = crypto.createHash('sha256');
        let bytes = 0;
        let first = true;
        for await (const chunk of req) {
          if (first) {
            first = false;
            gotFirstChunk((chunk as Buffer).length);
            if (url.searchParams.get('gate') === '1') await uploadGate;
          }
          bytes += (chunk as Buffer).length;
          hash.update(chunk as Buffer);
        }
        return json(res, 200, { bytes, sha256: hash.digest('hex') });
      }
      case 'slow':
        await drain();
        await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 1000)));
        return json(res, 200, { slow: true });
      default:
        await drain();
        return json(res, 404, { message: `No route ${url.pathname}` });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  upstream.close = async () => {
    upstream.openGate();
    upstream.releaseUpload();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  return upstream;
}
