// The provider API of the proxy benchmark: a bare node:http server in its own process. `GET /v1/me` answers a small
// JSON body when it carries `Authorization: Bearer <BENCH_UPSTREAM_TOKEN>`, 401 otherwise (so every scenario proves the
// credential was injected). Prints `{"ready":true,"url":…}`; exits when stdin closes or on SIGTERM/SIGINT.
import http from 'node:http';

const expected = `Bearer ${process.env.BENCH_UPSTREAM_TOKEN ?? 'bench-upstream-token'}`;
const ok = JSON.stringify({ id: 'user-1', name: 'Bench user', email: 'bench@example.com' });
const refused = JSON.stringify({ message: 'bad credentials' });

const server = http.createServer((req, res) => {
  const good = req.headers.authorization === expected;
  res.writeHead(good ? 200 : 401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(good ? ok : refused) });
  res.end(good ? ok : refused);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${server.address().port}`, pid: process.pid }) + '\n');
});

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
