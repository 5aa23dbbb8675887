// The Proxy API (`/proxy`, what `@apideck/unify`'s `proxy.*` calls) and the historic `/vault/proxy`: any request to a
// provider's API with the consumer's stored credentials injected. Bodies pass through as streams both ways: this
// plugin replaces the app's JSON parser with one that hands the raw request stream on.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { PROXY_METHODS, newTrace, type Forwarder, type ProxyTrace } from '../../proxy/forward.js';
import { CallerGoneError, callerGoneSignal, discardBody, drainWhenAnswered, requestBodyOf, responseBodyOf } from '../../proxy/caller.js';
import { answerHasBody, bodylessAnswerHeaders } from '../../proxy/headers.js';
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

function header(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || null;
}

function timeoutOf(request: FastifyRequest, max: number): number | null {
  const raw = header(request, 'x-apideck-timeout');
  if (raw === null) return null;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value <= 0) throw badRequest('x-apideck-timeout must be a positive number of milliseconds', { invalid: [{ 'x-apideck-timeout': 'positive integer' }] });
  return Math.min(value, max);
}

function methodOf(request: FastifyRequest): string {
  const raw = header(request, 'x-apideck-downstream-method');
  if (raw === null) return request.method;
  const method = raw.toUpperCase();
  if (!(PROXY_METHODS as readonly string[]).includes(method)) {
    throw badRequest(`x-apideck-downstream-method must be one of ${PROXY_METHODS.join(', ')}`, { invalid: [{ 'x-apideck-downstream-method': raw }] });
  }
  return method;
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
      const serviceId = header(request, 'x-apideck-service-id');
      request.proxyTrace = newTrace(serviceId ?? '');
      if (!serviceId) throw missingHeader('x-apideck-service-id');
      const downstreamUrl = header(request, 'x-apideck-downstream-url');
      if (!downstreamUrl) throw missingHeader('x-apideck-downstream-url');
      const method = methodOf(request);
      const timeout = timeoutOf(request, options.maxTimeoutMs);
      const result = await forwarder.forward(
        {
          scope: scopeOf(request),
          serviceId,
          unifiedApi: header(request, 'x-apideck-unified-api'),
          downstreamUrl,
          method,
          downstreamAuthorization: header(request, 'x-apideck-downstream-authorization'),
          timeoutMs: timeout ?? options.maxTimeoutMs,
          timeoutFromCaller: timeout !== null && timeout < options.maxTimeoutMs,
          headers: request.headers,
          // The parser hands on the raw stream; the provider call gets one of its own (see caller.ts).
          body: request.body === undefined ? null : requestBodyOf(request.raw),
          signal,
        },
        request.proxyTrace,
      );
      reply.code(result.status);
      if (answerHasBody(request.method, method, result.status)) {
        // A body that fails before its first byte is answered with Coffer's envelope, without the provider's headers.
        const failure = (error: unknown) => {
          if (!reply.raw.headersSent) {
            for (const name of Object.keys(result.headers)) {
              reply.removeHeader(name);
              reply.raw.removeHeader(name);
            }
          }
          return result.bodyFailure(error);
        };
        return reply.headers(result.headers).send(responseBodyOf(result.body, failure));
      }
      // Nothing of the provider's body reaches the caller; undici even fails a 304 that states a length, which the
      // caller does not care about either.
      discardBody(result.body);
      return reply.headers(bodylessAnswerHeaders(result.headers, request.method, result.status)).send(Buffer.alloc(0));
    };

    const routes: Array<[string, readonly string[], string]> = [
      ['/proxy', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'], ''],
      ['/vault/proxy', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], 'vault'],
    ];
    for (const [url, methods, prefix] of routes) {
      for (const method of methods) {
        const name = method.charAt(0) + method.slice(1).toLowerCase();
        app.route({
          method,
          url,
          exposeHeadRoute: false,
          config: {
            operation: { id: prefix ? `${prefix}Proxy${name}` : `proxy${name}`, name: `Proxy ${method} request` },
            access: 'consumer',
            proxy: true,
          },
          handler,
        });
      }
    }
  };
}
