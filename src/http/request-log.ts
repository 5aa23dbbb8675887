// Every answered API call becomes a `/vault/logs` entry (and counts toward the consumer's requests) and an access-log
// line, whether fastify answered it or the hot-read path (hot-paths.ts) did.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ProxyTrace } from '../proxy/forward.js';
import { uuidv7 } from '../vault/ids.js';
import type { LogWriter } from '../vault/logs.js';
import type { Caller } from './auth.js';

/** What is logged of an answered request. */
export interface AnsweredCall {
  reqId: string;
  method: string;
  /** As requested, query string included. */
  url: string;
  status: number;
  elapsedMs: number;
  ip: string | undefined;
  /** Set for the operations of the API (authenticated routes). */
  operation: { id: string; name: string } | undefined;
  caller: Caller | undefined;
  params: Record<string, string>;
  proxy: boolean;
  proxyTrace: ProxyTrace | undefined;
}

export function answeredCallOf(request: FastifyRequest, reply: FastifyReply): AnsweredCall {
  const config = request.routeOptions.config;
  return {
    reqId: request.id,
    method: request.method,
    url: request.url,
    status: reply.statusCode,
    elapsedMs: reply.elapsedTime,
    ip: request.ip,
    operation: config.operation,
    caller: request.caller,
    params: (request.params ?? {}) as Record<string, string>,
    proxy: Boolean(config.proxy),
    proxyTrace: request.proxyTrace,
  };
}

/** Paths that carry a secret in the URL itself are logged without it. */
function loggablePath(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.startsWith('/session/') ? path.replace(/^\/session\/[^/]+/, '/session/<token>') : path;
}

export type AccessLog = FastifyBaseLogger & Pick<Logger, 'isLevelEnabled'>;

/** The access-log line of an answered request (never its query string: it may carry a credential). */
function logAccess(accessLog: AccessLog, call: AnsweredCall): void {
  if (!accessLog.isLevelEnabled('info')) return;
  const trace = call.proxyTrace;
  const ms = Math.round(call.elapsedMs);
  const line = trace
    ? { reqId: call.reqId, method: call.method, path: loggablePath(call.url), status: call.status, ms, unified_api: 'proxy', service_id: trace.serviceId, upstream_ms: Math.round(trace.upstreamMs), latency_ms: Math.round(Math.max(0, call.elapsedMs - trace.upstreamMs)) }
    : { reqId: call.reqId, method: call.method, path: loggablePath(call.url), status: call.status, ms };
  accessLog.info(line, 'request');
}

function recordApiCall(logs: LogWriter, baseUrl: string, call: AnsweredCall): void {
  const { operation, caller } = call;
  if (!operation || !caller) return;
  const consumerId = caller.consumerId ?? call.params.consumer_id ?? '';
  const serviceId = call.params.service_id ?? 'vault';
  const elapsed = call.elapsedMs;
  const now = Date.now();
  if (call.proxy) {
    // duration: time spent on the provider; latency: what Coffer added on top of it.
    const trace = call.proxyTrace;
    const upstream = trace?.upstreamMs ?? 0;
    const service = trace?.serviceId || 'unknown';
    logs.record({
      id: uuidv7(now),
      application_id: caller.applicationId,
      consumer_id: consumerId,
      unified_api: 'proxy',
      service_id: service,
      service_name: trace?.serviceName || service,
      operation_id: operation.id,
      operation_name: operation.name,
      http_method: call.method,
      // Never the query string: query-style injection puts the credential there.
      path: trace?.downstreamPath ?? call.url.split('?')[0],
      base_url: trace?.downstreamOrigin ?? baseUrl,
      status_code: call.status,
      success: call.status < 400 ? 1 : 0,
      duration: Math.round(upstream * 100) / 100,
      execution: Math.round(elapsed),
      latency: Math.round(Math.max(0, elapsed - upstream) * 100) / 100,
      error_message: trace?.error ?? null,
      source_ip: call.ip ?? null,
      sandbox: 0,
      created_at: now,
    });
    return;
  }
  logs.record({
    id: uuidv7(now),
    application_id: caller.applicationId,
    consumer_id: consumerId,
    unified_api: 'vault',
    service_id: serviceId,
    service_name: serviceId === 'vault' ? 'Coffer Vault' : serviceId,
    operation_id: operation.id,
    operation_name: operation.name,
    http_method: call.method,
    path: call.url.split('?')[0],
    base_url: baseUrl,
    status_code: call.status,
    success: call.status < 400 ? 1 : 0,
    duration: 0,
    execution: Math.round(elapsed),
    latency: Math.round(elapsed * 100) / 100,
    error_message: null,
    source_ip: call.ip ?? null,
    sandbox: caller.session?.settings?.sandbox_mode ? 1 : 0,
    created_at: now,
  });
}

/** What happens after every answered request: its log entry, its access line, then `after` (the webhook nudge). */
export function answeredCallRecorder(ctx: { publicUrl: string }, logs: LogWriter, accessLog: AccessLog, after?: () => void): (call: AnsweredCall) => void {
  // The public URL is settled once the server listens (server.ts), after the app is built.
  let publicUrl = '';
  let publicHost = '';
  return (call) => {
    if (ctx.publicUrl !== publicUrl) publicHost = new URL((publicUrl = ctx.publicUrl)).host;
    recordApiCall(logs, publicHost, call);
    logAccess(accessLog, call);
    after?.();
  };
}
