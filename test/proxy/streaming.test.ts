// Bodies stream through the proxy both ways: the first bytes reach the other side while the rest is not even sent yet
// (a proxy that buffers whole bodies would hang here), and 32 MiB each way arrive intact.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';
import { patternByte, patternChunk, startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { connect, proxyConnectors, proxyHeaders } from './support.js';

const KEY = 'stream-key-88a0';
const LARGE = 32 * 1024 * 1024;

/** Rejects after `ms` with `what`: a hang becomes a clear failure. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<T>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

describe.each(backends)('proxy streaming (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;
  const consumer = 'streamer';
  const headers = (path: string) => proxyHeaders(coffer, consumer, 'px-bearer', `${upstream.url}/bearer/${path}`);

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    upstream.accepts = (credential) => credential === KEY;
    dir = writeConnectorDir('coffer-proxy-stream-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
    await connect(coffer, consumer, 'px-bearer', { api_key: KEY });
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('response: the caller reads the first chunk while the provider is still holding back the rest', async () => {
    const total = 4 * 64 * 1024;
    const res = await fetch(`${coffer.url}/proxy`, { headers: headers(`stream?bytes=${total}&gate=1`) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(total));
    const reader = res.body!.getReader();
    const first = await within(reader.read(), 5000, 'the first response chunk arriving before the provider finished');
    expect(first.done).toBe(false);
    let received = first.value!.length;
    upstream.openGate();
    const parts: Uint8Array[] = [first.value!];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.length;
    }
    expect(received).toBe(total);
    expect(Buffer.concat(parts).equals(patternChunk(0, total))).toBe(true);
  });

  it('request: the provider receives the first chunk before the caller has sent the rest', async () => {
    const chunk = patternChunk(0, 64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(chunk);
        await within(upstream.firstChunk, 5000, 'the first request chunk reaching the provider before the caller sent the rest');
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${coffer.url}/proxy`, {
      method: 'POST',
      headers: { ...headers('upload'), 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    const answer = await okJson(res);
    expect(answer.bytes).toBe(2 * chunk.length);
    expect(answer.sha256).toBe(crypto.createHash('sha256').update(chunk).update(chunk).digest('hex'));
  });

  it('32 MiB down and 32 MiB up arrive intact', async () => {
    const down = await fetch(`${coffer.url}/proxy`, { headers: headers(`stream?bytes=${LARGE}`) });
    expect(down.status).toBe(200);
    let offset = 0;
    let mismatch = -1;
    for await (const part of down.body as unknown as AsyncIterable<Uint8Array>) {
      for (let i = 0; i < part.length && mismatch < 0; i += 4093) if (part[i] !== patternByte(offset + i)) mismatch = offset + i;
      offset += part.length;
    }
    expect(mismatch).toBe(-1);
    expect(offset).toBe(LARGE);

    const piece = patternChunk(0, 1024 * 1024);
    const hash = crypto.createHash('sha256');
    for (let i = 0; i < LARGE / piece.length; i++) hash.update(piece);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === LARGE) return controller.close();
        controller.enqueue(piece);
        sent += piece.length;
      },
    });
    const up = await fetch(`${coffer.url}/proxy`, {
      method: 'PUT',
      headers: { ...headers('upload'), 'content-type': 'application/octet-stream', 'content-length': String(LARGE) },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(await okJson(up)).toEqual({ bytes: LARGE, sha256: hash.digest('hex') });
  });
});
