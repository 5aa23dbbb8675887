// The `state` inside `authorize_url`/`revoke_url`: signed by Coffer, bound to application, consumer and connector.
import { SignJWT } from 'jose';
import type { Keyring } from '../crypto/keyring.js';

export const AUTHORIZE_STATE_AUDIENCE = 'coffer:authorize';
const STATE_TTL_SECONDS = 60 * 60;

export async function signAuthorizeState(
  keyring: Keyring,
  claims: { applicationId: string; consumerId: string; serviceId: string; unifiedApi: string },
): Promise<string> {
  return new SignJWT({ app: claims.applicationId, con: claims.consumerId, svc: claims.serviceId, api: claims.unifiedApi })
    .setProtectedHeader({ alg: 'HS256' })
    .setAudience(AUTHORIZE_STATE_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${STATE_TTL_SECONDS}s`)
    .sign(keyring.sessionSigningKey);
}
