// Every authenticated API call becomes a `/vault/logs` entry (and counts toward the consumer's requests).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { uuidv7 } from '../vault/ids.js';
import type { LogWriter } from '../vault/logs.js';

export function recordApiCall(logs: LogWriter, baseUrl: string, request: FastifyRequest, reply: FastifyReply): void {
  const operation = request.routeOptions.config.operation;
  const caller = request.caller;
  if (!operation || !caller) return;
  const params = (request.params ?? {}) as Record<string, string>;
  const consumerId = caller.consumerId ?? params.consumer_id ?? '';
  const serviceId = params.service_id ?? 'vault';
  const elapsed = reply.elapsedTime;
  const now = Date.now();
  if (request.routeOptions.config.proxy) {
    // duration: time spent on the provider; latency: what Coffer added on top of it.
    const trace = request.proxyTrace;
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
      http_method: request.method,
      // Never the query string: query-style injection puts the credential there.
      path: trace?.downstreamPath ?? request.url.split('?')[0],
      base_url: trace?.downstreamOrigin ?? baseUrl,
      status_code: reply.statusCode,
      success: reply.statusCode < 400 ? 1 : 0,
      duration: Math.round(upstream * 100) / 100,
      execution: Math.round(elapsed),
      latency: Math.round(Math.max(0, elapsed - upstream) * 100) / 100,
      error_message: trace?.error ?? null,
      source_ip: request.ip ?? null,
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
    http_method: request.method,
    path: request.url.split('?')[0],
    base_url: baseUrl,
    status_code: reply.statusCode,
    success: reply.statusCode < 400 ? 1 : 0,
    duration: 0,
    execution: Math.round(elapsed),
    latency: Math.round(elapsed * 100) / 100,
    error_message: null,
    source_ip: request.ip ?? null,
    sandbox: caller.session?.settings?.sandbox_mode ? 1 : 0,
    created_at: now,
  });
}
