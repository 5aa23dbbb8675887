// Who is calling: an application's API key (+ x-apideck-app-id) or a session JWT scoped to one consumer.
import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { authenticateApiKey } from '../vault/applications.js';
import type { VaultContext } from '../vault/context.js';
import { forbidden, unauthorized, VaultError } from '../vault/errors.js';
import { verifySession, type SessionClaims } from '../vault/sessions.js';
import type { Scope } from '../vault/connection-mutation.js';
import { linkPolicy } from './session-policy.js';

export type Access = 'public' | 'app' | 'consumer' | 'consumer-optional';

export interface Caller {
  applicationId: string;
  consumerId: string | null;
  via: 'api_key' | 'session';
  session?: SessionClaims;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    operation?: { id: string; name: string };
    access?: Access;
    /** Whether a session JWT (the Vault UIs) may call this route. */
    sessionAllowed?: boolean;
  }
}

export const missingHeader = (name: string) =>
  new VaultError(400, 'RequestHeadersValidationError', `Missing Header: ${name}`, { missing: [{ [name]: 'required' }] });

/** The token of `Authorization: Bearer <token>`, or null for any other shape. */
export function bearerToken(authorization: string | null | undefined): string | null {
  return /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '')?.[1] ?? null;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || null;
}

/** Whether `authenticate` checks this request's caller (Auth0's Management API routes authenticate their own). */
export function requiresAuthentication(request: FastifyRequest): boolean {
  return !request.url.startsWith('/api/v2/') && (request.routeOptions.config.access ?? 'public') !== 'public';
}

/** Whether the caller presents a session JWT rather than an API key. */
export function presentsSession(headers: IncomingHttpHeaders, token: string): boolean {
  return header(headers, 'x-apideck-auth-type')?.toLowerCase() === 'jwt' || JWT_SHAPE.test(token);
}

/** The caller of a route with this access, from the request's headers; throws the 400/401/403 to answer otherwise. */
export async function authenticateCaller(ctx: VaultContext, headers: IncomingHttpHeaders, access: Access, sessionAllowed: boolean): Promise<Caller> {
  const authorization = header(headers, 'authorization');
  if (!authorization) throw unauthorized('Missing authentication');
  const token = bearerToken(authorization);
  if (!token) throw unauthorized('Authorization must be "Bearer <API key>"');
  const appId = header(headers, 'x-apideck-app-id');
  const consumerId = header(headers, 'x-apideck-consumer-id');

  let caller: Caller;
  if (presentsSession(headers, token)) {
    const session = await verifySession(ctx, token);
    if (appId && appId !== session.application_id) throw unauthorized('The session token was issued for another application');
    if (!sessionAllowed) throw forbidden('A session token cannot call this endpoint; use an API key');
    if (consumerId && consumerId !== session.consumer_id) throw forbidden('The session token is scoped to another consumer');
    caller = { applicationId: session.application_id, consumerId: session.consumer_id, via: 'session', session };
  } else {
    if (!appId) throw missingHeader('x-apideck-app-id');
    const owner = await authenticateApiKey(ctx, token);
    if (!owner) throw unauthorized('Invalid or revoked API key');
    if (owner !== appId) throw unauthorized(`The API key does not belong to application ${appId}`);
    // x-apideck-consumer-id is not used on application-level routes (/vault/consumers*), though @apideck/node sends it.
    caller = { applicationId: owner, consumerId: access === 'app' ? null : consumerId, via: 'api_key' };
  }
  if (access === 'consumer' && !caller.consumerId) throw missingHeader('x-apideck-consumer-id');
  return caller;
}

export async function authenticate(ctx: VaultContext, request: FastifyRequest): Promise<void> {
  if (!requiresAuthentication(request)) return;
  const config = request.routeOptions.config;
  request.caller = await authenticateCaller(ctx, request.headers, config.access ?? 'public', Boolean(config.sessionAllowed));
}

/** For handlers of `consumer` routes: the consumer the call is scoped to, and what a session says of its links and flows. */
export function scopeOf(request: FastifyRequest): Scope {
  const caller = request.caller!;
  return { applicationId: caller.applicationId, consumerId: caller.consumerId!, ...sessionFlowOf(request), links: linkPolicy(request) };
}

/** What a session caller's token says about the OAuth flows it starts (carried into the authorize state). */
export function sessionFlowOf(request: FastifyRequest): { redirectUri?: string; browserBinding?: boolean } {
  const session = request.caller!.session;
  return { redirectUri: session?.redirect_uri, browserBinding: session?.settings?.oauth_browser_binding };
}
