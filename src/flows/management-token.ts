// Management API access tokens for the Flows Vault API: HS256 JWTs for one Coffer application, signed with a key
// derived from the master key for this purpose only, so neither session tokens nor API keys are accepted here.
import crypto from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { VaultContext } from '../vault/context.js';
import { applicationExists } from '../store/applications.js';
import { insufficientScope, invalidToken, FlowsError } from './errors.js';

export const FLOWS_SCOPES = [
  'read:flows_vault_connections',
  'create:flows_vault_connections',
  'update:flows_vault_connections',
  'delete:flows_vault_connections',
] as const;
export type FlowsScope = (typeof FLOWS_SCOPES)[number];

const DEFAULT_TTL_SECONDS = 24 * 3600;
const MAX_TTL_SECONDS = 30 * 24 * 3600;

export interface ManagementCaller {
  applicationId: string;
  scopes: Set<string>;
}

/**
 * Fixed, not derived from the public URL: a token made by the CLI (whose configured URL may differ from the server's
 * port or host) or by another instance of a cluster must be accepted everywhere the master key is.
 */
export const MANAGEMENT_TOKEN_ISSUER = 'urn:coffer:management';
export const MANAGEMENT_TOKEN_AUDIENCE = 'urn:coffer:management:api/v2';

export async function issueManagementToken(
  ctx: VaultContext,
  applicationId: string,
  scopes: string[],
  ttlSeconds = DEFAULT_TTL_SECONDS,
): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string }> {
  const unknown = scopes.filter((s) => !(FLOWS_SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new FlowsError(400, 'invalid_scope', `Unknown scope ${unknown.join(', ')}; known: ${FLOWS_SCOPES.join(' ')}`);
  if (scopes.length === 0) throw new FlowsError(400, 'invalid_scope', `Give at least one scope of: ${FLOWS_SCOPES.join(' ')}`);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new FlowsError(400, 'invalid_ttl', `The lifetime must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
  }
  const scope = [...new Set(scopes)].join(' ');
  const token = await new SignJWT({ application_id: applicationId, scope, gty: 'client-credentials' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(MANAGEMENT_TOKEN_ISSUER)
    .setAudience(MANAGEMENT_TOKEN_AUDIENCE)
    .setSubject(`${applicationId}@clients`)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(ctx.keyring.flowsManagementKey);
  return { access_token: token, token_type: 'Bearer', expires_in: ttlSeconds, scope };
}

/** The caller behind `Authorization: Bearer <token>`; every failure is a 401 that never echoes the token. */
export async function verifyManagementToken(ctx: VaultContext, authorization: string | undefined): Promise<ManagementCaller> {
  if (!authorization) throw invalidToken('Missing authentication');
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match) throw invalidToken('Bad HTTP authentication header format');
  let payload;
  try {
    ({ payload } = await jwtVerify(match[1], ctx.keyring.flowsManagementKey, {
      issuer: MANAGEMENT_TOKEN_ISSUER,
      audience: MANAGEMENT_TOKEN_AUDIENCE,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw invalidToken('Expired token received for JSON Web Token validation');
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw invalidToken('Invalid signature received for JSON Web Token validation');
    if (error instanceof joseErrors.JOSEError) throw invalidToken('Invalid token');
    throw error;
  }
  if (typeof payload.application_id !== 'string' || typeof payload.scope !== 'string') throw invalidToken('Invalid token');
  // A token outlives nothing: the application it was issued for must still exist.
  if (!(await applicationExists(ctx.db, payload.application_id))) throw invalidToken('Invalid token');
  return { applicationId: payload.application_id, scopes: new Set(payload.scope.split(' ').filter(Boolean)) };
}

export function requireScope(caller: ManagementCaller, scope: FlowsScope): void {
  if (!caller.scopes.has(scope)) throw insufficientScope([scope]);
}
