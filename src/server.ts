// Starts the HTTP server on an opened runtime.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './http/app.js';
import type { Runtime } from './runtime.js';
import { LogWriter } from './vault/logs.js';
import { RefreshCoordinator } from './oauth/refresh.js';
import { startBackgroundRefresher } from './oauth/background-refresher.js';
import { WebhookDispatcher } from './events/dispatcher.js';
import { Forwarder } from './proxy/forward.js';

const SHUTDOWN_GRACE_MS = 3_000;

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  logs: LogWriter;
  refresher: RefreshCoordinator;
  webhooks: WebhookDispatcher;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** False: every request through fastify's whole pipeline (see http/hot-paths.ts). Default true. */
  hotPaths?: boolean;
}

export async function startServer(runtime: Runtime, logger: Logger, listen: { port: number; host: string }, serve: ServeOptions = {}): Promise<RunningServer> {
  const logs = new LogWriter(runtime.store.db, logger);
  const refresher = new RefreshCoordinator(runtime.ctx);
  const webhooks = new WebhookDispatcher(runtime.ctx, runtime.config.webhooks, logger);
  const forwarder = new Forwarder(runtime.ctx, refresher, runtime.ctx.outbound.agent, (error, what) => logger.error({ err: error }, what));
  const app = await buildApp({
    ctx: runtime.ctx,
    store: runtime.store,
    logs,
    logger,
    corsOrigins: runtime.config.corsOrigins,
    refresher,
    webhookPolicy: { allowPrivateNetworks: runtime.config.webhooks.allowPrivateNetworks },
    onResponse: () => webhooks.nudgeIfEventsAppended(),
    forwarder,
    proxyTimeoutMs: runtime.config.proxyTimeoutMs,
    rateLimits: runtime.config.rateLimits,
    hotPaths: serve.hotPaths,
  });
  await app.listen({ port: listen.port, host: listen.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  const host = wildcard ? '127.0.0.1' : listen.host;
  // Bound to one address: advertise that address (`localhost` may resolve to ::1, where nothing listens).
  if (!runtime.config.publicUrlExplicit) runtime.ctx.publicUrl = `http://${wildcard ? 'localhost' : host}:${port}`;
  const stopRefresher = startBackgroundRefresher(
    runtime.ctx,
    refresher,
    { intervalMs: runtime.config.refreshIntervalSeconds * 1000, staleMs: runtime.config.refreshStaleDays * 86_400_000 },
    app.log,
  );
  webhooks.start();
  return {
    app,
    refresher,
    webhooks,
    url: `http://${host}:${port}`,
    logs,
    async close() {
      await stopRefresher();
      // In-flight requests get a grace period; sockets a browser opened ahead of time and never used count as busy
      // to node:http, and would otherwise hold the shutdown until their headers timeout (60 s).
      const closing = app.close();
      const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closing;
      clearTimeout(force);
      await webhooks.stop();
      await logs.close();
    },
  };
}
