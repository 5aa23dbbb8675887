// The Proxy API (`/proxy`, what `@apideck/unify`'s `proxy.*` calls) and the historic `/vault/proxy`: any request to a
// provider's API with the consumer's stored credentials injected. Bodies pass through as streams both ways: this
// plugin replaces the app's JSON parser with one that hands the raw request stream on.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { PROXY_METHODS, newTrace, type Forwarder, type ProxyCall, type ProxyTrace } from '../../proxy/forward.js';
import type { Scope } from '../../vault/connection-mutation.js';
import { CallerGoneError, callerGoneSignal, drainWhenAnswered, requestBodyOf } from '../../proxy/caller.js';
import { writeProxyAnswer } from '../proxy-answer.js';
import { badRequest } from '../../vault/errors.js';
import { missingHeader, scopeOf } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on proxied calls: what the request log records about the provider call. */
    proxyTrace?: ProxyTrace;
  }
  interface FastifyContextConfig {
    /** A Proxy API route: logged and counted as `unified_api: proxy`. */
    proxy?: boolean;
  }
}

export interface ProxyRouteOptions {
  /** Upper bound of a provider call (COFFER_PROXY_TIMEOUT_MS); `x-apideck-timeout` may only shorten it. */
  maxTimeoutMs: number;
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || null;
}

function timeoutOf(headers: IncomingHttpHeaders, max: number): number | null {
  const raw = header(headers, 'x-apideck-timeout');
  if (raw === null) return null;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value <= 0) throw badRequest('x-apideck-timeout must be a positive number of milliseconds', { invalid: [{ 'x-apideck-timeout': 'positive integer' }] });
  return Math.min(value, max);
}

function methodOf(headers: IncomingHttpHeaders, callerMethod: string): string {
  const raw = header(headers, 'x-apideck-downstream-method');
  if (raw === null) return callerMethod;
  const method = raw.toUpperCase();
  if (!(PROXY_METHODS as readonly string[]).includes(method)) {
    throw badRequest(`x-apideck-downstream-method must be one of ${PROXY_METHODS.join(', ')}`, { invalid: [{ 'x-apideck-downstream-method': raw }] });
  }
  return method;
}

/** The trace a proxied request is logged with, started before anything can fail. */
export const proxyTraceOf = (headers: IncomingHttpHeaders): ProxyTrace => newTrace(header(headers, 'x-apideck-service-id') ?? '');

/** The provider call a proxied request asks for, from its `x-apideck-*` headers; throws the caller's 400s. */
export function proxyCallOf(
  request: { headers: IncomingHttpHeaders; method: string },
  scope: Scope,
  body: Readable | null,
  signal: AbortSignal,
  options: ProxyRouteOptions,
): ProxyCall {
  const { headers } = request;
  const serviceId = header(headers, 'x-apideck-service-id');
  if (!serviceId) throw missingHeader('x-apideck-service-id');
  const downstreamUrl = header(headers, 'x-apideck-downstream-url');
  if (!downstreamUrl) throw missingHeader('x-apideck-downstream-url');
  const method = methodOf(headers, request.method);
  const timeout = timeoutOf(headers, options.maxTimeoutMs);
  return {
    scope,
    serviceId,
    unifiedApi: header(headers, 'x-apideck-unified-api'),
    downstreamUrl,
    method,
    downstreamAuthorization: header(headers, 'x-apideck-downstream-authorization'),
    timeoutMs: timeout ?? options.maxTimeoutMs,
    timeoutFromCaller: timeout !== null && timeout < options.maxTimeoutMs,
    headers,
    body,
    signal,
  };
}

/** The proxy routes' operations (`proxyGet`, `vaultProxyDelete`, …), for fastify and the hot path alike. */
export function proxyOperation(url: string, method: string): { id: string; name: string } {
  const name = method.charAt(0) + method.slice(1).toLowerCase();
  return { id: url === '/vault/proxy' ? `vaultProxy${name}` : `proxy${name}`, name: `Proxy ${method} request` };
}

export function proxyRoutes(forwarder: Forwarder, options: ProxyRouteOptions): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    // A caller that hung up gets no answer (there is no one to send it to) and is no error of ours; every other error
    // goes on to the app's error handler.
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (!(error instanceof CallerGoneError) && !reply.raw.destroyed) throw error;
      request.log.info({ err: { type: error.name, code: error.code } }, 'caller went away during a proxied call');
    });

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      // First, before anything can fail: however the call ends, the caller's body never blocks its connection.
      drainWhenAnswered(request.raw, reply.raw);
      const signal = callerGoneSignal(reply.raw);
      request.proxyTrace = proxyTraceOf(request.headers);
      // The parser hands on the raw stream; the provider call gets one of its own (see caller.ts).
      const body = request.body === undefined ? null : requestBodyOf(request.raw);
      const call = proxyCallOf(request, scopeOf(request), body, signal, options);
      const result = await forwarder.forward(call, request.proxyTrace);
      // From here the answer is written on the raw response, as the hot path writes it (proxy-answer.ts); fastify
      // still runs the onResponse hook (the request log) when it finishes.
      reply.hijack();
      writeProxyAnswer(reply.raw, reply.getHeaders() as OutgoingHttpHeaders, request.method, call.method, result, request.log);
    };

    const routes: Array<[string, readonly string[]]> = [
      ['/proxy', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']],
      ['/vault/proxy', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']],
    ];
    for (const [url, methods] of routes) {
      for (const method of methods) {
        app.route({
          method,
          url,
          exposeHeadRoute: false,
          config: {
            operation: proxyOperation(url, method),
            access: 'consumer',
            proxy: true,
          },
          handler,
        });
      }
    }
  };
}
