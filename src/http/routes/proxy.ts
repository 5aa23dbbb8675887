// The Proxy API (`/proxy`, what `@apideck/unify`'s `proxy.*` calls) and the historic `/vault/proxy`: any request to a
// provider's API with the consumer's stored credentials injected. Bodies pass through as streams both ways: this
// plugin replaces the app's JSON parser with one that hands the raw request stream on.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { PROXY_METHODS, newTrace, type Forwarder, type ProxyTrace } from '../../proxy/forward.js';
import type { Readable } from 'node:stream';
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

function timeoutOf(request: FastifyRequest, max: number): number {
  const raw = header(request, 'x-apideck-timeout');
  if (raw === null) return max;
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

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const serviceId = header(request, 'x-apideck-service-id');
      request.proxyTrace = newTrace(serviceId ?? '');
      if (!serviceId) throw missingHeader('x-apideck-service-id');
      const downstreamUrl = header(request, 'x-apideck-downstream-url');
      if (!downstreamUrl) throw missingHeader('x-apideck-downstream-url');
      const result = await forwarder.forward(
        {
          scope: scopeOf(request),
          serviceId,
          unifiedApi: header(request, 'x-apideck-unified-api'),
          downstreamUrl,
          method: methodOf(request),
          downstreamAuthorization: header(request, 'x-apideck-downstream-authorization'),
          timeoutMs: timeoutOf(request, options.maxTimeoutMs),
          headers: request.headers,
          body: (request.body as Readable | undefined) ?? null,
        },
        request.proxyTrace,
      );
      return reply.code(result.status).headers(result.headers).send(result.body);
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
