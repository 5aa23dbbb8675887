// Rate limits: failed authentication per client address and per application (on by default), and each application's
// own requests-per-minute limit (off unless set). Counters live in this process's memory: @fastify/rate-limit's LRU,
// 5000 keys per limiter, the least recently seen forgotten first.
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import type { RateLimitConfig } from '../config.js';
import { requestRateLimit } from '../vault/applications.js';
import type { VaultContext } from '../vault/context.js';
import { tooManyRequests } from '../vault/errors.js';
import { bearerToken } from './auth.js';

const MINUTE_MS = 60_000;

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
type Verdict = Awaited<ReturnType<Limiter>>;

export interface RateLimits {
  /** 429 when the caller's address, or the application it names, is at its failed-authentication limit. */
  beforeAuthentication(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Counts one failed authentication against the caller's address and the application it named. */
  authenticationFailed(request: FastifyRequest): Promise<void>;
  /** True while nobody can be over a failed-authentication limit (no failure within the window). */
  quiet(): boolean;
  /** 429 when the authenticated application is over its own limit; otherwise the X-RateLimit-* headers of it. */
  applicationRequest(request: FastifyRequest, reply: FastifyReply, applicationId: string): Promise<void>;
}

/**
 * The application a caller names, authenticated or not: the `application_id` claim of a JWT-shaped token (session or
 * Management API token, read without verifying it), else `x-apideck-app-id`.
 */
function applicationNamed(request: FastifyRequest): string {
  const token = bearerToken(request.headers.authorization);
  if (token?.split('.').length === 3) {
    try {
      const claim = decodeJwt(token).application_id;
      if (typeof claim === 'string' && claim) return claim;
    } catch {
      // not a JWT after all
    }
  }
  const header = request.headers['x-apideck-app-id'];
  return (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
}

function setHeaders(reply: FastifyReply, verdict: Extract<Verdict, { isAllowed: false }>, remaining: number): void {
  reply.header('x-ratelimit-limit', verdict.max);
  reply.header('x-ratelimit-remaining', remaining);
  reply.header('x-ratelimit-reset', verdict.ttlInSeconds);
}

function refuse(reply: FastifyReply, verdict: Extract<Verdict, { isAllowed: false }>, message: string, scope: string): never {
  setHeaders(reply, verdict, 0);
  reply.header('retry-after', verdict.ttlInSeconds);
  throw tooManyRequests(`${message}; retry in ${verdict.ttlInSeconds} s`, {
    limit: verdict.max,
    window_seconds: Math.round(verdict.timeWindow / 1000),
    retry_after: verdict.ttlInSeconds,
    scope,
  });
}

export async function installRateLimits(app: FastifyInstance, ctx: VaultContext, config: RateLimitConfig): Promise<RateLimits> {
  // No route gets the plugin's own hook: the limiters below are called where authentication happens.
  await app.register(rateLimit, { global: false });
  const failureWindow = config.authFailureWindowSeconds * 1000;
  const failureLimiter = (max: number, keyGenerator: (request: FastifyRequest) => string): Limiter | null =>
    max > 0 ? app.createRateLimit({ max, timeWindow: failureWindow, keyGenerator, allowList: (_request, key) => key === '' }) : null;
  const failures = [
    { limiter: failureLimiter(config.authFailuresPerIp, (request) => normalizeIP(request.ip)), scope: 'address', what: 'from this address' },
    { limiter: failureLimiter(config.authFailuresPerApp, applicationNamed), scope: 'application', what: 'for this application' },
  ].filter((f): f is typeof f & { limiter: Limiter } => f.limiter !== null);

  // Applications without a limit are let through before anything is counted.
  const requests = app.createRateLimit({
    timeWindow: MINUTE_MS,
    keyGenerator: (request) => request.rateLimitedApplication ?? '',
    allowList: async (_request, key) => key === '' || (await requestRateLimit(ctx, key)) === null,
    max: async (_request, key) => (await requestRateLimit(ctx, key)) ?? 0,
  });

  // Until a failure happens, nobody can be over a failure limit: the common case costs one comparison.
  let lastFailureAt = -Infinity;
  const quiet = () => Date.now() - lastFailureAt > failureWindow;
  return {
    quiet,
    async beforeAuthentication(request, reply) {
      if (quiet()) return;
      for (const { limiter, scope, what } of failures) {
        const verdict = await limiter(request, { increment: false });
        if (!verdict.isAllowed && verdict.remaining === 0) refuse(reply, verdict, `Too many failed authentication attempts ${what}`, scope);
      }
    },
    async authenticationFailed(request) {
      lastFailureAt = Date.now();
      for (const { limiter } of failures) await limiter(request);
    },
    async applicationRequest(request, reply, applicationId) {
      // No limit set (the default): nothing to count.
      if ((await requestRateLimit(ctx, applicationId)) === null) return;
      request.rateLimitedApplication = applicationId;
      const verdict = await requests(request);
      if (verdict.isAllowed) return;
      if (verdict.isExceeded) refuse(reply, verdict, `Application ${applicationId} is over its limit of ${verdict.max} requests per minute`, 'application_requests');
      setHeaders(reply, verdict, verdict.remaining);
    },
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The application whose request limit this request counts toward. */
    rateLimitedApplication?: string;
  }
}
