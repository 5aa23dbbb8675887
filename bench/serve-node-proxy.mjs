// Reference for the proxy scenario: the least a Node proxy can do with Coffer's stack (fastify 5, undici pool, streamed
// body) — no authentication, no connection lookup, no logging — with the credential injected from a constant. Coffer's
// `/proxy` cannot beat this; the gap between the two is what Coffer's own work costs.
// Prints `{"ready":true,"url":…}`; exits when stdin closes or on SIGTERM/SIGINT.
import Fastify from 'fastify';
import { Agent } from 'undici';

const upstream = process.env.BENCH_UPSTREAM_URL;
const authorization = `Bearer ${process.env.BENCH_UPSTREAM_TOKEN ?? 'bench-upstream-token'}`;
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 256 });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
app.get('/v1/me', async (_request, reply) => {
  const response = await agent.request({ origin: upstream, path: '/v1/me', method: 'GET', headers: { authorization } });
  return reply.code(response.statusCode).header('content-type', response.headers['content-type']).send(response.body);
});

await app.listen({ port: 0, host: '127.0.0.1' });
const { port } = app.server.address();
process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}`, pid: process.pid }) + '\n');

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try {
    await app.close();
    await agent.close();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
