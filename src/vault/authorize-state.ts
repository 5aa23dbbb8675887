// The `state` inside `authorize_url`/`revoke_url`: signed by Coffer, bound to application, consumer, connector and
// the one flow it was issued for, short-lived, and single-use (its `jti` is recorded when a flow starts).
import { jwtVerify } from 'jose';
import { signHs256 } from '../crypto/compact-jws.js';
import { randomBytes } from './ids.js';
import type { Keyring } from '../crypto/keyring.js';

export const AUTHORIZE_STATE_AUDIENCE = 'coffer:authorize';
export const STATE_TTL_SECONDS = 30 * 60;

/** Which link the state was issued in: an authorize state never opens a revoke, nor the other way round. */
export type StateUse = 'authorize' | 'revoke';

export interface AuthorizeStateClaims {
  use: StateUse;
  applicationId: string;
  consumerId: string;
  serviceId: string;
  unifiedApi: string;
  /** The session's redirect_uri, which the flow may return to besides the application's allow-list. */
  redirectUri?: string;
  /** Only for a connection that holds no tokens yet: a session that may not re-authorize keeps no reusable link. */
  firstOnly?: boolean;
  /** False when the session says its flows complete in another browser (`settings.oauth_browser_binding`). */
  browserBinding?: boolean;
}

export async function signAuthorizeState(keyring: Keyring, claims: AuthorizeStateClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signHs256(keyring.sessionSigningKeyObject, {
    use: claims.use,
    app: claims.applicationId,
    con: claims.consumerId,
    svc: claims.serviceId,
    api: claims.unifiedApi,
    ...(claims.redirectUri ? { ru: claims.redirectUri } : {}),
    ...(claims.firstOnly ? { first: true } : {}),
    ...(claims.browserBinding === false ? { bb: false } : {}),
    aud: AUTHORIZE_STATE_AUDIENCE,
    jti: randomBytes(12).toString('base64url'),
    iat: now,
    exp: now + STATE_TTL_SECONDS,
  });
}

/** Returns the claims, or null for a state that is forged, tampered with or expired. */
export async function verifyAuthorizeState(keyring: Keyring, state: string): Promise<(AuthorizeStateClaims & { jti: string; exp: number }) | null> {
  try {
    const { payload } = await jwtVerify(state, keyring.sessionSigningKey, { audience: AUTHORIZE_STATE_AUDIENCE, algorithms: ['HS256'] });
    const { use, app, con, svc, api, ru, first, bb, jti, exp } = payload as Record<string, unknown>;
    if (use !== 'authorize' && use !== 'revoke') return null;
    if (typeof app !== 'string' || typeof con !== 'string' || typeof svc !== 'string' || typeof api !== 'string' || typeof jti !== 'string') return null;
    const redirectUri = typeof ru === 'string' ? ru : undefined;
    return {
      use,
      applicationId: app,
      consumerId: con,
      serviceId: svc,
      unifiedApi: api,
      redirectUri,
      firstOnly: first === true,
      ...(bb === false ? { browserBinding: false } : {}),
      jti,
      exp: Number(exp),
    };
  } catch {
    return null;
  }
}
