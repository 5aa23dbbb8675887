// The requests a vault answers thousands of times a second — `GET` of a connection and of its credentials, and bodyless
// `GET`/`DELETE` proxy calls, with an API key — answered ahead of fastify's pipeline (routing, hooks, reply), which
// cost more CPU than the work itself.
//
// Only the plain case is taken here: a path of plain ids, no query, no body, no Origin (CORS), no `Expect`, an API key
// that authenticated before, no failed-authentication window open and no request limit on the application. Every
// other request, and any of these the checks below would not let through, goes to fastify untouched, which answers it
// in full. What both paths do is one piece of code: authentication (auth.ts), input bounds (input-bounds.ts), the
// operations (the route files' `answer`, `proxyCallOf` and proxy-answer.ts), error envelopes (errors.ts) and the
// request log (request-log.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { requestRateLimit } from '../vault/applications.js';
import type { VaultContext } from '../vault/context.js';
import type { Scope } from '../vault/connection-mutation.js';
import { authenticateCaller, bearerToken, presentsSession, type Access, type Caller } from './auth.js';
import { writeErrorAnswer } from './errors.js';
import { checkRequestInput, MAX_ID_LENGTH } from './input-bounds.js';
import type { RateLimits } from './rate-limits.js';
import type { AnsweredCall } from './request-log.js';
import type { Forwarder } from '../proxy/forward.js';
import { CallerGoneError, callerGoneSignal } from '../proxy/caller.js';
import { proxyCallOf, proxyOperation, proxyTraceOf, type ProxyRouteOptions } from './routes/proxy.js';
import { writeProxyAnswer } from './proxy-answer.js';
import { JSON_TYPE, writeJson } from './envelope.js';

/** A route the hot path answers: its config as registered with fastify, and the operation itself. */
export interface HotRoute {
  operation: { id: string; name: string };
  access: Access;
  sessionAllowed: boolean;
  /** The success body (JSON text) and any headers of its own; throws what the caller is answered with. */
  answer(scope: Scope, params: ConnectionPathParams): Promise<{ body: string; headers?: Record<string, string> }>;
}

/** The route config fastify registers a hot route with. */
export const routeConfigOf = (route: HotRoute) => ({ operation: route.operation, access: route.access, sessionAllowed: route.sessionAllowed });

/** Sends a hot route's answer through fastify (a request the hot path left to it). */
export function sendAnswer(reply: FastifyReply, answer: { body: string; headers?: Record<string, string> }) {
  if (answer.headers) reply.headers(answer.headers);
  return reply.code(200).type(JSON_TYPE).send(answer.body);
}

export interface ConnectionPathParams {
  unified_api: string;
  service_id: string;
}

export interface HotPathOptions {
  ctx: VaultContext;
  limits: RateLimits;
  /** GET /vault/connections/:unified_api/:service_id */
  connection: HotRoute;
  /** GET /vault/connections/:unified_api/:service_id/credentials */
  credentials: HotRoute;
  /** `/proxy` and `/vault/proxy` */
  proxy: { forwarder: Forwarder; options: ProxyRouteOptions };
  /** Headers fastify's plugins put on every answer to a request without Origin (CORS' `vary` and exposed headers). */
  commonHeaders: Record<string, string>;
  nextRequestId: () => string;
  record: (call: AnsweredCall) => void;
  log: FastifyBaseLogger;
  /** True once the server is closing: fastify then answers 503 itself. */
  closing: () => boolean;
}

/** Request ids for fastify and the hot path alike (fastify's default shape: `req-<base 36 counter>`). */
export function requestIdGenerator(): () => string {
  let next = 0;
  return () => `req-${(next = (next + 1) & 0x7fffffff).toString(36)}`;
}

const PREFIX = '/vault/connections/';
const PLAIN_ID = /^[A-Za-z0-9_-]+$/;

const plainId = (segment: string | undefined): segment is string => segment !== undefined && segment.length <= MAX_ID_LENGTH && PLAIN_ID.test(segment);

type Hot =
  | { kind: 'read'; route: HotRoute; params: ConnectionPathParams }
  | { kind: 'proxy'; url: string };

/** `request` listener: answers a hot request itself, or hands it to `fallback` (fastify). */
export function hotPathHandler(options: HotPathOptions) {
  const { ctx, limits } = options;

  /** What the request is, when the hot path may take it. */
  function match(req: IncomingMessage): Hot | null {
    const url = req.url!;
    const method = req.method;
    if ((method !== 'GET' && method !== 'DELETE') || url.includes('?')) return null;
    const headers = req.headers;
    if (headers.origin !== undefined || headers.expect !== undefined || headers['transfer-encoding'] !== undefined) return null;
    if (headers['content-length'] !== undefined && headers['content-length'] !== '0') return null;
    let hot: Hot;
    if (url === '/proxy' || url === '/vault/proxy') hot = { kind: 'proxy', url };
    else {
      if (method !== 'GET' || !url.startsWith(PREFIX)) return null;
      const segments = url.slice(PREFIX.length).split('/');
      const [unifiedApi, serviceId, tail] = segments;
      if (!plainId(unifiedApi) || !plainId(serviceId)) return null;
      let route: HotRoute;
      if (segments.length === 2) route = options.connection;
      else if (segments.length === 3 && tail === 'credentials') route = options.credentials;
      else return null;
      hot = { kind: 'read', route, params: { unified_api: unifiedApi, service_id: serviceId } };
    }
    const token = bearerToken(typeof headers.authorization === 'string' ? headers.authorization : undefined);
    // Keys seen before only: a first or a wrong key goes the whole way, where failures are counted and limited.
    if (!token || presentsSession(headers, token) || ctx.cache.applicationOfKey(token) === undefined) return null;
    if (!limits.quiet()) return null;
    return hot;
  }

  /** The caller, when the request passes every check fastify's hooks make; null hands it to fastify. */
  async function callerOf(req: IncomingMessage, operation: { access: Access; sessionAllowed: boolean }, params: Record<string, unknown>): Promise<Caller | null> {
    try {
      const caller = await authenticateCaller(ctx, req.headers, operation.access, operation.sessionAllowed);
      checkRequestInput(params, undefined, req.headers);
      // A limited application's requests are counted where the limiter lives.
      if ((await requestRateLimit(ctx, caller.applicationId)) !== null) return null;
      return options.closing() ? null : caller;
    } catch {
      return null;
    }
  }

  const logged = (req: IncomingMessage, startedAt: number, status: number, operation: { id: string; name: string }, caller: Caller, params: Record<string, string>, proxyTrace?: AnsweredCall['proxyTrace']): AnsweredCall => ({
    reqId: options.nextRequestId(),
    method: req.method!,
    url: req.url!,
    status,
    elapsedMs: performance.now() - startedAt,
    ip: req.socket.remoteAddress,
    operation,
    caller,
    params,
    proxy: proxyTrace !== undefined,
    proxyTrace,
  });

  async function answerRead(req: IncomingMessage, res: ServerResponse, route: HotRoute, params: ConnectionPathParams, fallback: () => void): Promise<void> {
    const startedAt = performance.now();
    const caller = await callerOf(req, route, params as unknown as Record<string, unknown>);
    if (!caller) return fallback();
    try {
      const { body, headers } = await route.answer({ applicationId: caller.applicationId, consumerId: caller.consumerId! }, params);
      writeJson(res, 200, { ...options.commonHeaders, ...headers }, body);
    } catch (error) {
      writeErrorAnswer(res, options.commonHeaders, error, options.log);
    }
    options.record(logged(req, startedAt, res.statusCode, route.operation, caller, params as unknown as Record<string, string>));
  }

  const PROXY_ACCESS = { access: 'consumer' as const, sessionAllowed: true };

  async function answerProxy(req: IncomingMessage, res: ServerResponse, url: string, fallback: () => void): Promise<void> {
    const startedAt = performance.now();
    const caller = await callerOf(req, PROXY_ACCESS, {});
    if (!caller) return fallback();
    const trace = proxyTraceOf(req.headers);
    const operation = proxyOperation(url, req.method!);
    res.once('finish', () => options.record(logged(req, startedAt, res.statusCode, operation, caller, {}, trace)));
    const signal = callerGoneSignal(res);
    try {
      const call = proxyCallOf({ headers: req.headers, method: req.method! }, { applicationId: caller.applicationId, consumerId: caller.consumerId! }, null, signal, options.proxy.options);
      const result = await options.proxy.forwarder.forward(call, trace);
      writeProxyAnswer(res, options.commonHeaders, req.method!, call.method, result, options.log);
    } catch (error) {
      if (error instanceof CallerGoneError || res.destroyed) {
        options.log.info({ err: { type: (error as Error).name } }, 'caller went away during a proxied call');
        return;
      }
      writeErrorAnswer(res, options.commonHeaders, error, options.log);
    }
  }

  return (req: IncomingMessage, res: ServerResponse, fallback: () => void): void => {
    const hot = match(req);
    if (!hot) return fallback();
    const answering = hot.kind === 'read' ? answerRead(req, res, hot.route, hot.params, fallback) : answerProxy(req, res, hot.url, fallback);
    answering.catch((error: unknown) => {
      options.log.error({ err: error }, 'hot path failed');
      if (!res.headersSent) fallback();
    });
  };
}
