// Reference for the proxy scenario: the least a Node proxy can do with Coffer's stack (fastify 5, undici pool, streamed
// body) — no authentication, no connection lookup, no logging — with the credential injected from a constant. Coffer's
// `/proxy` cannot beat this; the gap between the two is what Coffer's own work costs.
import Fastify from 'fastify';
import { Agent } from 'undici';
import { serveUntilStdinCloses } from './serve-fastify.mjs';

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

await serveUntilStdinCloses(app, () => agent.close());
