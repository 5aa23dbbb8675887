// Checks shared by authorize and revoke: the state is Coffer's, unexpired, for this application and connector,
// the redirect_uri is allowed, and the state has not been used.
import type { VaultContext } from '../vault/context.js';
import { verifyAuthorizeState, type AuthorizeStateClaims, type StateUse } from '../vault/authorize-state.js';
import { redirectUris } from '../store/applications.js';
import { invalidRequest } from './flow-error.js';
import { useStateOnce } from '../store/oauth-flows.js';
import { verifySession } from '../vault/sessions.js';

export interface BrowserRequest {
  serviceId: string;
  applicationId: string;
  state?: string;
  redirectUri?: string;
}

export type VerifiedState = AuthorizeStateClaims & { jti: string; exp: number };

export async function checkState(ctx: VaultContext, request: BrowserRequest, use: StateUse): Promise<VerifiedState> {
  if (!request.state) throw invalidRequest('missing_state', 'The state parameter is required');
  const claims = await verifyAuthorizeState(ctx.keyring, request.state);
  if (!claims) throw invalidRequest('invalid_state', 'The state is invalid or has expired; start again from the application');
  if (claims.use !== use) throw invalidRequest('invalid_state', `The state was issued for ${claims.use === 'revoke' ? 'a disconnect' : 'an authorization'}, not this`);
  if (claims.applicationId !== request.applicationId || claims.serviceId !== request.serviceId) {
    throw invalidRequest('invalid_state', 'The state was issued for another application or connector');
  }
  return claims;
}

/** Exact match against the application's allow-list or the session's own redirect_uri: never an open redirect. */
export async function checkRedirectUri(ctx: VaultContext, request: BrowserRequest, claims: VerifiedState): Promise<string> {
  const uri = request.redirectUri;
  if (!uri) throw invalidRequest('missing_redirect_uri', 'The redirect_uri parameter is required');
  if (uri === claims.redirectUri) return uri;
  if (await isOwnSessionPage(ctx, uri, claims)) return uri;
  const allowed = await redirectUris(ctx.db, claims.applicationId);
  if (!allowed.includes(uri)) {
    throw invalidRequest('redirect_uri_not_allowed', 'This redirect_uri is not registered for the application (coffer app set --redirect-uris)');
  }
  return uri;
}

export async function useState(ctx: VaultContext, claims: VerifiedState): Promise<void> {
  if (!(await useStateOnce(ctx.db, claims.applicationId, claims.jti, claims.exp))) {
    throw invalidRequest('state_used', 'This state has already been used; start again from the application');
  }
}

/**
 * The Hosted Vault page (`<public URL>/session/<token>`, nothing after it) of a valid session for the same
 * application and consumer: the page the consumer clicked Authorize on may always be returned to.
 */
async function isOwnSessionPage(ctx: VaultContext, uri: string, claims: VerifiedState): Promise<boolean> {
  const prefix = `${ctx.publicUrl}/session/`;
  if (!uri.startsWith(prefix)) return false;
  const token = uri.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return false;
  try {
    const session = await verifySession(ctx, token);
    return session.application_id === claims.applicationId && session.consumer_id === claims.consumerId;
  } catch {
    return false;
  }
}
