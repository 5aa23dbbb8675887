// One request over a slot's own keep-alive connection (node:http, not undici: undici refuses `Expect` and
// `CONNECT`-like oddities, and a keep-alive bug only shows when the next request reuses the same socket).
// No complete answer within HANG_MS is a hang: the socket is destroyed and the slot opens a new one.
import http from 'node:http';

export const HANG_MS = 10_000;
const KEEP_BYTES = 4 * 1024 * 1024;
/** How long a client waits for `100 Continue` before sending the body anyway (curl waits 1 s). */
const CONTINUE_WAIT_MS = 1000;

export function slotAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

/** → { status, headers, body: Buffer, ms, hang, error } (status null when no answer came). */
export function send(baseUrl, spec, agent) {
  const { hostname, port } = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let status = null;
    let resHeaders = {};
    const chunks = [];
    let kept = 0;
    const finish = (extra) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers: resHeaders, body: Buffer.concat(chunks), ms: performance.now() - started, hang: false, error: null, ...extra });
    };
    const headers = { ...spec.headers };
    if (spec.body) headers['content-length'] = String(spec.body.length);
    let req;
    try {
      req = http.request({ host: hostname, port, method: spec.method, path: spec.path, headers, agent });
    } catch (error) {
      // The client itself refused what we built (a header value it will not send): not the server's doing.
      resolve({ status: null, headers: {}, body: Buffer.alloc(0), ms: 0, hang: false, error: null, clientRefused: error.code ?? error.message });
      return;
    }
    const timer = setTimeout(() => {
      finish({ hang: true });
      req.destroy(new Error('hang'));
    }, HANG_MS);
    // A caller that hangs up part-way: whatever the server was doing, it must not count that as its own error.
    if (spec.hangUpAfterMs !== null && spec.hangUpAfterMs !== undefined) {
      setTimeout(() => {
        if (settled) return;
        finish({ hungUp: true });
        req.destroy();
      }, spec.hangUpAfterMs);
    }
    req.on('response', (res) => {
      status = res.statusCode;
      resHeaders = res.headers;
      res.on('data', (chunk) => {
        if (kept < KEEP_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      res.on('end', () => finish({}));
      res.on('error', (error) => finish({ error: error.code ?? error.message }));
      res.on('aborted', () => finish({ error: 'aborted' }));
    });
    req.on('error', (error) => finish({ error: error.code ?? error.message }));
    if (spec.body && spec.expect100) {
      let sent = false;
      const sendBody = () => {
        if (sent) return;
        sent = true;
        clearTimeout(wait);
        req.end(spec.body);
      };
      const wait = setTimeout(sendBody, CONTINUE_WAIT_MS);
      req.on('continue', sendBody);
      req.on('response', sendBody);
      req.flushHeaders();
    } else {
      req.end(spec.body ?? undefined);
    }
  });
}
