// Baseline for the benchmark: a bare fastify 5 hello-world in its own process.
import Fastify from 'fastify';
import { serveUntilStdinCloses } from './serve-fastify.mjs';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await serveUntilStdinCloses(app);
