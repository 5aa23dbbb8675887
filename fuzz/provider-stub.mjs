// The provider API, OAuth token endpoint and webhook receiver the fuzzed Coffer talks to, on 127.0.0.1:0. Every
// answer it writes carries `x-fuzz-stub: 1`, so the fuzzer tells a provider's status (passed through by the proxy)
// from Coffer's own. Paths (matched on the last segments, whatever the prefix):
//   /ok  /echo  /big  /slow  /empty            normal answers (slow: up to 2 s, below the fuzzer's hang limit)
//   /status/NNN                                 that status with a JSON body (500/502/503 are deliberate failures)
//   /reset  /badheader  /truncated  /hang       deliberately broken: reset, invalid header bytes, short body, and
//                                               a header that never comes (Coffer must time out, with 504)
//   /token                                      an OAuth token endpoint that always issues
//   /webhook                                    a webhook receiver (204)
import http from 'node:http';

/** Downstream paths whose Coffer 502/504 is the provider's doing, not Coffer's. */
export const BROKEN_PATHS = ['/reset', '/badheader', '/truncated', '/hang', '/status/500', '/status/502', '/status/503', '/status/504'];

export function isBrokenTarget(downstreamUrl) {
  if (!downstreamUrl) return false;
  let path;
  try {
    path = new URL(downstreamUrl, 'http://x').pathname;
  } catch {
    return false;
  }
  return BROKEN_PATHS.some((p) => path.endsWith(p)) || path.endsWith('/slow');
}

const MARK = { 'x-fuzz-stub': '1' };

function json(res, status, body, extra = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...MARK, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export async function startProviderStub() {
  const stats = { requests: 0, webhooks: 0, tokens: 0 };
  let tokenCounter = 0;
  const server = http.createServer((req, res) => {
    stats.requests++;
    const url = new URL(req.url ?? '/', 'http://stub');
    const path = url.pathname;
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (chunks.length < 64) chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      const tail = (suffix) => path.endsWith(suffix);
      if (tail('/webhook')) {
        stats.webhooks++;
        res.writeHead(204, MARK).end();
      } else if (tail('/token')) {
        stats.tokens++;
        json(res, 200, { access_token: `stub-access-${++tokenCounter}`, refresh_token: `stub-refresh-${tokenCounter}`, token_type: 'Bearer', expires_in: 3600 });
      } else if (tail('/echo')) {
        const body = Buffer.concat(chunks).subarray(0, 4096).toString('utf8');
        json(res, 200, { method: req.method, path, query: url.search, headers: req.headers, body_bytes: size, body_head: body });
      } else if (tail('/big')) {
        const big = 'x'.repeat(1024 * 1024);
        res.writeHead(200, { ...MARK, 'content-type': 'text/plain', 'content-length': big.length });
        res.end(big);
      } else if (tail('/slow')) {
        const ms = Math.min(2000, Number(url.searchParams.get('ms')) || 1500);
        setTimeout(() => json(res, 200, { slow: ms }), ms);
      } else if (tail('/empty')) {
        res.writeHead(204, MARK).end();
      } else if (/\/status\/\d{3}$/.test(path)) {
        const status = Number(path.slice(-3));
        json(res, status >= 200 && status <= 599 ? status : 500, { stub_status: status });
      } else if (tail('/reset')) {
        req.socket.destroy();
      } else if (tail('/badheader')) {
        req.socket.end('HTTP/1.1 200 OK\r\nx-fuzz-stub: 1\r\nx-bad: a\x01\x7fb\r\ncontent-length: 2\r\n\r\nok');
      } else if (tail('/truncated')) {
        req.socket.end('HTTP/1.1 200 OK\r\nx-fuzz-stub: 1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"partial":');
      } else if (tail('/hang')) {
        // Never answers; Coffer's proxy timeout (x-apideck-timeout / COFFER_PROXY_TIMEOUT_MS) must answer 504.
        setTimeout(() => req.socket.destroy(), 60_000).unref();
      } else if (tail('/ok') || path === '/' || path.endsWith('/v1')) {
        json(res, 200, { ok: true, method: req.method });
      } else {
        json(res, 404, { stub_status: 404, path });
      }
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
