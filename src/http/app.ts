// The fastify application: parsing, CORS, auth, rate limits, error envelope, request logs and the route files.
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Store } from '../store/database.js';
import type { VaultContext } from '../vault/context.js';
import type { LogWriter } from '../vault/logs.js';
import { authenticate, requiresAuthentication } from './auth.js';
import { answerRouterError, installErrorHandling } from './errors.js';
import { boundRequest, MAX_BODY_BYTES, parseJsonBody, ROUTER_MAX_PARAM_LENGTH } from './input-bounds.js';
import { enforceSessionPolicy } from './session-policy.js';
import { openApiDocument } from './openapi.js';
import { parseQuery } from './querystring.js';
import { answeredCallOf, answeredCallRecorder, type AccessLog } from './request-log.js';
import { hotPathHandler, requestIdGenerator } from './hot-paths.js';
import http from 'node:http';
import { connectionReadRoute, connectionRoutes } from './routes/connections.js';
import { credentialsReadRoute, oauthRoutes } from './routes/oauth.js';
import type { RefreshCoordinator } from '../oauth/refresh.js';
import { consumerRoutes } from './routes/consumers.js';
import { customMappingRoutes } from './routes/custom-mappings.js';
import { resourceRoutes } from './routes/resources.js';
import { sessionAndLogRoutes } from './routes/sessions-logs.js';
import { systemRoutes } from './routes/system.js';
import { hostedVaultRoutes } from './routes/hosted-vault.js';
import { webhookRoutes } from './routes/webhooks.js';
import type { WebhookPolicy } from '../events/subscriptions.js';
import { flowsVaultRoutes } from './routes/flows-vault.js';
import { proxyRoutes } from './routes/proxy.js';
import { answerClientError, refuseConnect } from './client-errors.js';
import type { Forwarder } from '../proxy/forward.js';
import type { RateLimitConfig } from '../config.js';
import { VaultError } from '../vault/errors.js';
import { installRateLimits } from './rate-limits.js';

export interface AppOptions {
  ctx: VaultContext;
  store: Store;
  logs: LogWriter;
  logger: FastifyBaseLogger;
  corsOrigins: string[] | null;
  refresher: RefreshCoordinator;
  webhookPolicy: WebhookPolicy;
  /** Called after every answered request, so events it wrote go out without waiting for the next poll. */
  onResponse?: () => void;
  /** The proxy's provider calls (`/proxy`, `/vault/proxy`). */
  forwarder: Forwarder;
  proxyTimeoutMs: number;
  rateLimits: RateLimitConfig;
  /** False: every request goes through fastify's pipeline (tests compare both paths). Default true. */
  hotPaths?: boolean;
}

export const CORS_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'X-APIDECK-APP-ID',
  'X-APIDECK-CONSUMER-ID',
  'X-APIDECK-AUTH-TYPE',
  'X-APIDECK-SERVICE-ID',
  'X-APIDECK-RAW',
  'X-APIDECK-DOWNSTREAM-URL',
  'X-APIDECK-DOWNSTREAM-METHOD',
  'X-APIDECK-DOWNSTREAM-AUTHORIZATION',
  'X-APIDECK-UNIFIED-API',
  'X-APIDECK-TIMEOUT',
  'X-APIDECK-FOLLOW-REDIRECTS',
];

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { ctx, store, logs, logger } = options;
  // Set once the rate limiters exist (below); until then every request goes through fastify.
  let hotPaths: ReturnType<typeof hotPathHandler> | null = null;
  let closing = false;
  const nextRequestId = requestIdGenerator();
  const app = Fastify({
    genReqId: nextRequestId,
    // fastify's own server, with the hot paths (hot-paths.ts) answered ahead of its pipeline.
    serverFactory: (handler, serverOptions) => {
      const server = http.createServer((req, res) => (hotPaths ? hotPaths(req, res, () => handler(req, res)) : handler(req, res)));
      // What fastify sets on a server it creates itself (its defaults, resolved into these options).
      const timeouts = serverOptions as unknown as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      server.requestTimeout = timeouts.requestTimeout;
      server.setTimeout(timeouts.connectionTimeout);
      return server;
    },
    loggerInstance: logger,
    // Fastify's own request lines would carry session tokens from /session/<token> URLs; ours strip them.
    logController: new LogController({ disableRequestLogging: true }),
    // One logger for every request instead of a child per request: the access line carries the request id itself.
    childLoggerFactory: (logger) => logger,
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { querystringParser: parseQuery, maxParamLength: ROUTER_MAX_PARAM_LENGTH },
    // Router and HTTP-parser refusals answer in the API's envelope too.
    frameworkErrors: answerRouterError,
    clientErrorHandler: answerClientError,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // The SDKs send `Content-Type: application/json` with an empty body on …/token and …/validate.
  // JSON only: any other media type gets a 415 envelope rather than a confusing schema error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  installErrorHandling(app);
  app.server.on('connect', refuseConnect);

  const corsOptions = {
    origin: options.corsOrigins ?? true,
    allowedHeaders: CORS_HEADERS,
    methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
    maxAge: 600,
    // A browser caller (the Vault UIs) can see when to try again after a 429.
    exposedHeaders: ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    // A bare OPTIONS (no Origin) is not a CORS preflight; answer it instead of failing it in plain text.
    strictPreflight: false,
  };
  // Static: the plugin then works from options normalized once, not per request.
  await app.register(cors, corsOptions);

  app.addHook('onRoute', (route) => {
    // `OPTIONS /proxy` is a proxied OPTIONS call (`proxy.options`), never a CORS preflight: /proxy takes API keys
    // only, which no browser page should hold.
    if (route.config?.proxy && route.method === 'OPTIONS') route.config = { ...route.config, cors: { preflight: false } } as typeof route.config;
    const operation = route.config?.operation;
    if (!operation) return;
    route.schema = { ...(route.schema ?? {}), operationId: operation.id, summary: operation.name, tags: [route.url.split('/')[2] ?? 'vault'] } as typeof route.schema;
  });
  await app.register(swagger, { openapi: openApiDocument(ctx.publicUrl) });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const limits = await installRateLimits(app, ctx, options.rateLimits);
  // Over a failed-authentication limit: 429 before any key is checked. Only authenticated routes count or are limited.
  app.addHook('onRequest', async (request, reply) => {
    if (!requiresAuthentication(request)) return;
    await limits.beforeAuthentication(request, reply);
    try {
      await authenticate(ctx, request);
    } catch (error) {
      if (error instanceof VaultError && error.statusCode === 401) await limits.authenticationFailed(request);
      throw error;
    }
    await limits.applicationRequest(request, reply, request.caller!.applicationId);
  });
  // After authentication, so a refused request is still logged for its application (with storable values).
  app.addHook('onRequest', boundRequest);
  app.addHook('preHandler', enforceSessionPolicy(ctx));
  const record = answeredCallRecorder(ctx, logs, app.log as AccessLog, options.onResponse);
  app.addHook('onResponse', async (request, reply) => record(answeredCallOf(request, reply)));
  app.addHook('preClose', async () => {
    closing = true;
  });

  await app.register(systemRoutes(store));
  await app.register(consumerRoutes(ctx, logs));
  await app.register(connectionRoutes(ctx, options.refresher));
  await app.register(oauthRoutes(ctx, options.refresher));
  await app.register(resourceRoutes(ctx, options.refresher));
  await app.register(customMappingRoutes(ctx));
  await app.register(sessionAndLogRoutes(ctx, logs));
  await app.register(webhookRoutes(ctx, options.webhookPolicy));
  await app.register(hostedVaultRoutes());
  // Encapsulated: its own auth (Management API tokens), error body and form parser.
  await app.register(flowsVaultRoutes(ctx, limits), { prefix: '/api/v2' });
  await app.register(proxyRoutes(options.forwarder, { maxTimeoutMs: options.proxyTimeoutMs }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (options.hotPaths !== false) {
    hotPaths = hotPathHandler({
      ctx,
      limits,
      connection: connectionReadRoute(ctx),
      credentials: credentialsReadRoute(ctx, options.refresher),
      proxy: { forwarder: options.forwarder, options: { maxTimeoutMs: options.proxyTimeoutMs } },
      // What @fastify/cors puts on an answer to a request without Origin (the hot path takes no other).
      commonHeaders: { vary: 'Origin', 'access-control-expose-headers': corsOptions.exposedHeaders.join(', ') },
      nextRequestId,
      record,
      log: app.log,
      closing: () => closing,
    });
  }
  return app;
}
