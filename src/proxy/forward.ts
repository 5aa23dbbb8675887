// One proxied call: the consumer's connection, the checks of where it may go, credential injection, the provider
// call on a pooled keep-alive connection with bodies streamed both ways, and one refresh-and-retry on a 401.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import type { ConnectorDefinition } from '../connectors/types.js';
import type { RefreshCoordinator } from '../oauth/refresh.js';
import { withUsableToken } from '../oauth/tokens-service.js';
import type { ConnectionRecord } from '../store/connection-record.js';
import type { Scope } from '../vault/connection-mutation.js';
import { stateOfRecord } from '../vault/connection-view.js';
import type { VaultContext } from '../vault/context.js';
import { isDownstreamFailureStatus, recordDownstreamOutcome } from '../vault/downstream-health.js';
import { badRequest, notFound, unprocessable, VaultError } from '../vault/errors.js';
import { resolveIntegration, type Integration } from '../vault/integrations.js';
import { proxyAllowedHosts } from '../vault/applications.js';
import { downstreamRequestHeaders, upstreamResponseHeaders } from './headers.js';
import { checkAllowedHost } from './host-policy.js';
import { proxyBaseUrl, upstreamTarget } from './injection.js';
import { PRIVATE_ADDRESS_CODE } from '../outbound/guarded-agent.js';
import { privateAddressRefused } from '../outbound/address-policy.js';
import { CallerGoneError } from './caller.js';

/**
 * Request bodies up to this size are held in memory when a 401 could be retried with a refreshed token (OAuth
 * connections); larger or chunked bodies are streamed, and a 401 on them is returned as is (after the refresh, so the
 * caller's own retry goes out with the new token).
 */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;

export interface ProxyCall {
  scope: Scope;
  serviceId: string;
  unifiedApi: string | null;
  /** Absolute URL, or a path under the connector's API base URL. */
  downstreamUrl: string;
  method: string;
  /** Sent as `Authorization` instead of the stored credentials (no injection). */
  downstreamAuthorization: string | null;
  timeoutMs: number;
  /** The caller shortened the timeout (`x-apideck-timeout`): running out of it says nothing about the provider. */
  timeoutFromCaller: boolean;
  headers: IncomingHttpHeaders;
  body: Readable | null;
  /** Aborted when the caller hangs up: the provider call is abandoned. */
  signal: AbortSignal;
}

export interface ProxyResult {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable;
  /** What the caller is answered when the provider's body fails (a 502 or 504 envelope if nothing was sent yet). */
  bodyFailure: (error: unknown) => VaultError;
}

/** Filled in as the call goes: what the request log and the log line say about it. */
export interface ProxyTrace {
  serviceId: string;
  serviceName: string;
  unifiedApi: string | null;
  downstreamOrigin: string | null;
  downstreamPath: string | null;
  /** Time spent waiting on the provider (every attempt, until its body ended). */
  upstreamMs: number;
  error: string | null;
}

export const newTrace = (serviceId: string): ProxyTrace => ({
  serviceId,
  serviceName: serviceId,
  unifiedApi: null,
  downstreamOrigin: null,
  downstreamPath: null,
  upstreamMs: 0,
  error: null,
});

interface Prepared {
  integration: Integration;
  unifiedApi: string;
  rec: ConnectionRecord;
  url: URL;
  headers: Record<string, string | string[]>;
  token: string | null;
}

function timeoutError(def: ConnectorDefinition, timeoutMs: number): VaultError {
  return new VaultError(504, 'ConnectorExecutionError', `${def.name} did not answer within ${timeoutMs} ms`, { timeout_ms: timeoutMs });
}

/** The code behind one of undici's failures (a refused connect carries it on its cause). */
function sendErrorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code === 'UND_ERR_CONNECT' || !e.code ? (e.cause?.code ?? e.code) : e.code;
}

/** undici's failures → what the caller sees; none of them echoes a header value (a credential). */
function mapSendError(error: unknown, def: ConnectorDefinition, url: URL, timeoutMs: number): VaultError {
  const code = sendErrorCode(error);
  switch (code) {
    case PRIVATE_ADDRESS_CODE:
      return privateAddressRefused(url.hostname);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return timeoutError(def, timeoutMs);
    case 'UND_ERR_INVALID_ARG':
      return badRequest(`The request to ${def.name} has a header that cannot be sent (characters not allowed in HTTP headers)`);
    case 'UND_ERR_NOT_SUPPORTED':
      return badRequest(`The request to ${def.name} has a header that cannot be forwarded`);
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return badRequest('The request body does not match its Content-Length');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new VaultError(502, 'ConnectorExecutionError', `Could not resolve ${url.hostname}`);
    default:
      return new VaultError(502, 'ConnectorExecutionError', `Could not reach ${def.name} at ${url.host}${code ? ` (${code})` : ''}`);
  }
}

/** The provider's body broke off after its status and headers: the provider's doing, never the caller's. */
function mapBodyError(error: unknown, def: ConnectorDefinition, url: URL, timeoutMs: number): VaultError {
  const code = sendErrorCode(error);
  if (code === 'UND_ERR_BODY_TIMEOUT') return timeoutError(def, timeoutMs);
  return new VaultError(502, 'ConnectorExecutionError', `${def.name} at ${url.host} broke off its answer${code ? ` (${code})` : ''}`);
}

/** Failures that show the provider (or the way to it) down; the connection's health only ever reflects these. */
const PROVIDER_FAILURES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Whether a failed send counts against the provider. Anything the caller caused (an odd header undici refuses, a body
 * that does not match its length, hanging up, a timeout it shortened itself) or Coffer's own rules refused does not;
 * neither does a failure we cannot attribute.
 */
function isProviderFailure(error: unknown, call: ProxyCall): boolean {
  if (error instanceof VaultError || error instanceof CallerGoneError || call.signal.aborted) return false;
  const code = sendErrorCode(error) ?? '';
  if (TIMEOUTS.has(code)) return !call.timeoutFromCaller;
  // llhttp's parse errors: the provider answered with something that is not HTTP.
  return PROVIDER_FAILURES.has(code) || code.startsWith('HPE_');
}

async function readBody(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class Forwarder {
  constructor(
    private readonly ctx: VaultContext,
    private readonly refresher: RefreshCoordinator,
    private readonly agent: Agent,
    private readonly onError: (error: unknown, what: string) => void = () => {},
  ) {}

  async forward(call: ProxyCall, trace: ProxyTrace): Promise<ProxyResult> {
    const prepared = await this.prepare(call, trace);
    const { integration, rec } = prepared;
    const { def } = integration;
    const injecting = call.downstreamAuthorization === null;
    const canRetry = injecting && def.auth_type === 'oauth2';
    const declaredLength = Number(call.headers['content-length'] ?? NaN);
    let body: Readable | Buffer | null = call.body;
    if (canRetry && body && Number.isInteger(declaredLength) && declaredLength <= REPLAY_LIMIT_BYTES) body = await readBody(body);

    let response: Dispatcher.ResponseData;
    try {
      response = await this.send(call, prepared, body, trace);
      if (response.statusCode === 401 && canRetry) {
        const refreshed = await this.refreshAfter401(call, prepared);
        if (refreshed && (body === null || Buffer.isBuffer(body))) {
          await response.body.dump();
          const retried = { ...prepared, ...this.inject(call, def, refreshed, prepared.url), token: refreshed.credentials?.access_token ?? null };
          response = await this.send(call, retried, body, trace);
        }
      }
    } catch (error) {
      if (error instanceof CallerGoneError || call.signal.aborted) {
        const gone = new CallerGoneError();
        trace.error = gone.message;
        throw gone;
      }
      const failure = error instanceof VaultError ? error : mapSendError(error, def, prepared.url, call.timeoutMs);
      trace.error = failure.message;
      if (isProviderFailure(error, call)) await this.recordOutcome(def, rec, prepared.unifiedApi, true);
      throw failure;
    }
    await this.recordOutcome(def, rec, prepared.unifiedApi, isDownstreamFailureStatus(response.statusCode));
    return {
      status: response.statusCode,
      headers: upstreamResponseHeaders(response.headers),
      body: response.body,
      bodyFailure: (error) => {
        const failure = mapBodyError(error, def, prepared.url, call.timeoutMs);
        trace.error = failure.message;
        return failure;
      },
    };
  }

  /** The connection, where the call may go, and the headers it carries. Throws the caller's 4xx. */
  private async prepare(call: ProxyCall, trace: ProxyTrace): Promise<Prepared> {
    const { ctx } = this;
    const { applicationId, consumerId } = call.scope;
    let rec = await ctx.connections.find({ applicationId, consumerId, serviceId: call.serviceId });
    if (!rec) throw notFound('connection', `${call.unifiedApi ?? '*'}+${call.serviceId}`);
    const unifiedApi = call.unifiedApi ?? rec.unifiedApi;
    trace.unifiedApi = unifiedApi;
    const integration = await resolveIntegration(ctx, call.scope.applicationId, unifiedApi, call.serviceId);
    const { def } = integration;
    trace.serviceName = def.name;
    if (!rec.enabled) throw unprocessable(`The ${def.name} connection is disabled`);
    const injecting = call.downstreamAuthorization === null;
    if (injecting) {
      if (def.auth_type === 'oauth2') rec = await withUsableToken(ctx, this.refresher, call.scope, integration, unifiedApi, rec);
      else {
        const state = stateOfRecord(def, rec);
        if (state !== 'callable') throw unprocessable(`The ${def.name} connection is not callable yet (state: ${state}); complete its settings first`);
      }
    }
    const base = proxyBaseUrl(def, rec.settings);
    const url = this.downstreamUrl(call.downstreamUrl, base, def);
    trace.downstreamOrigin = url.origin;
    trace.downstreamPath = url.pathname;
    checkAllowedHost(url, def.name, base ? [new URL(base).host] : [], await proxyAllowedHosts(ctx, call.scope.applicationId));
    ctx.outbound.check(url);
    return { integration, unifiedApi, rec, ...this.inject(call, def, rec, url), token: rec.credentials?.access_token ?? null };
  }

  private downstreamUrl(raw: string, base: string | null, def: ConnectorDefinition): URL {
    let url: URL;
    if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) {
      try {
        url = new URL(raw);
      } catch {
        throw badRequest('x-apideck-downstream-url is not a valid URL', { invalid: [{ 'x-apideck-downstream-url': 'url' }] });
      }
    } else {
      if (!base) throw badRequest(`x-apideck-downstream-url must be an absolute URL: ${def.name} defines no API base URL`);
      try {
        url = new URL(base + (raw.startsWith('/') ? raw : `/${raw}`));
      } catch {
        throw badRequest('x-apideck-downstream-url is not a valid URL path', { invalid: [{ 'x-apideck-downstream-url': 'url' }] });
      }
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw badRequest('x-apideck-downstream-url must be an http(s) URL', { invalid: [{ 'x-apideck-downstream-url': 'http(s) URL' }] });
    }
    if (url.username || url.password) throw badRequest('x-apideck-downstream-url may not carry credentials');
    url.hash = '';
    return url;
  }

  /** The caller's headers plus the connection's credentials (or the caller's own), and the URL with query injection. */
  private inject(call: ProxyCall, def: ConnectorDefinition, rec: ConnectionRecord, url: URL): { headers: Record<string, string | string[]>; url: URL } {
    const headers = downstreamRequestHeaders(call.headers);
    if (call.downstreamAuthorization !== null) {
      headers.authorization = call.downstreamAuthorization;
      return { headers, url };
    }
    const target = upstreamTarget(def, rec.settings, rec.credentials?.access_token ?? null);
    Object.assign(headers, target.headers);
    const keys = Object.keys(target.query);
    if (keys.length === 0) return { headers, url };
    const out = new URL(url);
    for (const key of keys) out.searchParams.set(key, target.query[key]);
    return { headers, url: out };
  }

  private async send(call: ProxyCall, prepared: Prepared, body: Readable | Buffer | null, trace: ProxyTrace): Promise<Dispatcher.ResponseData> {
    const started = performance.now();
    const bodyless = call.method === 'GET' || call.method === 'HEAD';
    let headers = prepared.headers;
    if (bodyless && headers['content-length'] !== undefined) {
      // The caller's body is not sent (it is drained once the caller is answered): neither is its length.
      const { 'content-length': _dropped, ...rest } = headers;
      headers = rest;
    }
    const response = await this.agent
      .request({
        origin: prepared.url.origin,
        path: prepared.url.pathname + prepared.url.search,
        method: call.method as Dispatcher.HttpMethod,
        headers,
        body: bodyless ? null : body,
        headersTimeout: call.timeoutMs,
        bodyTimeout: call.timeoutMs,
        signal: call.signal,
      })
      .catch((error: unknown) => {
        trace.upstreamMs += performance.now() - started;
        throw error;
      });
    let counted = false;
    const done = () => {
      if (counted) return;
      counted = true;
      trace.upstreamMs += performance.now() - started;
    };
    response.body.once('end', done);
    response.body.once('close', done);
    return response;
  }

  /** One refresh for a token the provider refused (shared with concurrent callers); null when it failed. */
  private async refreshAfter401(call: ProxyCall, prepared: Prepared): Promise<ConnectionRecord | null> {
    if (!prepared.token) return null;
    try {
      return await this.refresher.refresh(call.scope, prepared.integration, prepared.unifiedApi, { rejectedAccessToken: prepared.token });
    } catch {
      // Recorded on the connection by the coordinator; the caller gets the provider's own 401.
      return null;
    }
  }

  private async recordOutcome(def: ConnectorDefinition, rec: ConnectionRecord, unifiedApi: string, failed: boolean): Promise<void> {
    try {
      await recordDownstreamOutcome(this.ctx, def, rec, unifiedApi, failed);
    } catch (error) {
      // Health bookkeeping never fails the call it observes.
      this.onError(error, 'could not record the connection health after a proxied call');
    }
  }
}
