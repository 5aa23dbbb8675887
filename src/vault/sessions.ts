// Vault sessions: a JWT with Apideck's claims, opened by the Hosted Vault and accepted back as a Bearer token.
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { VaultContext } from './context.js';
import { upsertConsumer, type ConsumerMetadata } from '../store/consumers.js';
import { badRequest, unauthorized } from './errors.js';
import { themeProblem } from './theme.js';

export const SESSION_AUDIENCE = 'coffer:session';
export const SESSION_ISSUER = 'coffer';
const MAX_SESSION_SECONDS = 7 * 24 * 3600;

export interface SessionSettings {
  unified_apis?: string[];
  hide_resource_settings?: boolean;
  sandbox_mode?: boolean;
  isolation_mode?: boolean;
  session_length?: string;
  show_logs?: boolean;
  show_suggestions?: boolean;
  show_sidebar?: boolean;
  auto_redirect?: boolean;
  hide_guides?: boolean;
  allow_actions?: string[];
  /** Coffer extension: false lets this session's OAuth flows complete in another browser than the one that started them. */
  oauth_browser_binding?: boolean;
}

export interface SessionRequest {
  consumer_metadata?: ConsumerMetadata;
  redirect_uri?: string;
  settings?: SessionSettings;
  theme?: Record<string, string>;
  custom_consumer_settings?: Record<string, unknown>;
}

export interface SessionClaims {
  application_id: string;
  consumer_id: string;
  consumer_metadata: ConsumerMetadata;
  redirect_uri?: string;
  settings: SessionSettings;
  theme: Record<string, string>;
  custom_consumer_settings?: Record<string, unknown>;
  data_scopes: { enabled: boolean };
  attribution: { hidden: boolean; hideable: boolean };
  exp: number;
  iat: number;
}

const SETTING_DEFAULTS: SessionSettings = {
  hide_resource_settings: false,
  sandbox_mode: false,
  isolation_mode: false,
  session_length: '1h',
  show_logs: true,
  show_suggestions: false,
  show_sidebar: true,
  auto_redirect: false,
  hide_guides: false,
};

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function sessionLengthSeconds(length: string): number {
  const match = /^(\d+)\s*([smhdw])$/.exec(length.trim());
  if (!match) throw badRequest(`settings.session_length "${length}" must look like 30m, 1h, 2d or 1w`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]];
  if (seconds <= 0 || seconds > MAX_SESSION_SECONDS) throw badRequest('settings.session_length must be more than 0 and at most 1 week');
  return seconds;
}

export async function createSession(ctx: VaultContext, applicationId: string, consumerId: string, body: SessionRequest = {}) {
  const settings = { ...SETTING_DEFAULTS, ...(body.settings ?? {}) };
  const ttl = sessionLengthSeconds(settings.session_length ?? '1h');
  if (body.redirect_uri !== undefined) {
    try {
      new URL(body.redirect_uri);
    } catch {
      throw badRequest('redirect_uri must be an absolute URL', { invalid: [{ redirect_uri: 'absolute URL' }] });
    }
  }
  const problem = themeProblem(body.theme ?? {});
  if (problem) throw badRequest(`theme.${problem[0]} ${problem[1]}`, { invalid: [{ [`theme.${problem[0]}`]: problem[1] }] });
  await upsertConsumer(ctx.db, applicationId, consumerId, body.consumer_metadata);
  const claims: Omit<SessionClaims, 'exp' | 'iat'> = {
    application_id: applicationId,
    consumer_id: consumerId,
    consumer_metadata: body.consumer_metadata ?? {},
    ...(body.redirect_uri !== undefined ? { redirect_uri: body.redirect_uri } : {}),
    settings,
    theme: body.theme ?? {},
    ...(body.custom_consumer_settings ? { custom_consumer_settings: body.custom_consumer_settings } : {}),
    data_scopes: { enabled: false },
    attribution: { hidden: true, hideable: true },
  };
  const token = await new SignJWT(claims as unknown as Record<string, unknown>)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(SESSION_ISSUER)
    .setAudience(SESSION_AUDIENCE)
    .setSubject(consumerId)
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`)
    .sign(ctx.keyring.sessionSigningKey);
  return { session_uri: `${ctx.publicUrl}/session/${token}`, session_token: token };
}

/**
 * Verified sessions by token, until they expire: the Vault UIs send the same token with every call, and a session
 * cannot be revoked before its `exp` (as at Apideck), so a verified token stays valid exactly that long.
 */
const verifiedByKeyring = new WeakMap<object, Map<string, { claims: SessionClaims; expiresAtMs: number }>>();
const MAX_VERIFIED_SESSIONS = 10_000;

/** Verifies a session JWT; any failure is a 401 that says why without echoing the token. */
export async function verifySession(ctx: VaultContext, token: string): Promise<SessionClaims> {
  let verified = verifiedByKeyring.get(ctx.keyring);
  if (!verified) verifiedByKeyring.set(ctx.keyring, (verified = new Map()));
  const known = verified.get(token);
  if (known && known.expiresAtMs > Date.now()) return known.claims;
  if (known) verified.delete(token);
  const claims = await verifySessionToken(ctx, token);
  if (verified.size >= MAX_VERIFIED_SESSIONS) verified.delete(verified.keys().next().value!);
  verified.set(token, { claims, expiresAtMs: claims.exp * 1000 });
  return claims;
}

async function verifySessionToken(ctx: VaultContext, token: string): Promise<SessionClaims> {
  try {
    const { payload } = await jwtVerify(token, ctx.keyring.sessionSigningKey, {
      issuer: SESSION_ISSUER,
      audience: SESSION_AUDIENCE,
      algorithms: ['HS256'],
    });
    if (typeof payload.application_id !== 'string' || typeof payload.consumer_id !== 'string') throw unauthorized('Session token lacks application or consumer');
    return payload as unknown as SessionClaims;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthorized('Session token has expired');
    if (error instanceof joseErrors.JOSEError) throw unauthorized('Invalid session token');
    throw error;
  }
}
