// Operations on a connection's OAuth tokens: fresh credentials for callers, forced refresh, token grants, revocation.
import * as oauth from 'oauth4webapi';
import type { ConnectionRecord } from '../store/connection-record.js';
import { loadConnection, mutateConnection, type Scope } from '../vault/connection-mutation.js';
import { stateOfRecord } from '../vault/connection-view.js';
import type { VaultContext } from '../vault/context.js';
import { badRequest, notFound, unprocessable, VaultError } from '../vault/errors.js';
import { resolveIntegration, type Integration } from '../vault/integrations.js';
import { oauthClientFor } from './client.js';
import type { RefreshCoordinator } from './refresh.js';
import { applyTokenResponse, needsRefresh } from './tokens.js';

async function oauthConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string): Promise<{ integration: Integration; rec: ConnectionRecord }> {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  if (integration.def.auth_type !== 'oauth2') throw badRequest(`${integration.def.name} uses ${integration.def.auth_type} authentication, not OAuth 2.0 tokens`);
  const rec = await loadConnection(ctx, scope, serviceId);
  if (!rec) throw notFound('connection', `${unifiedApi}+${serviceId}`);
  return { integration, rec };
}

function checkUsable(def: Integration['def'], rec: ConnectionRecord): void {
  if (!rec.credentials) throw unprocessable(`The ${def.name} connection has no token yet: the consumer must authorize it first`);
  if (!rec.confirmed) throw unprocessable(`The ${def.name} connection is waiting for confirmation (…/confirm)`);
  // A refresh token the provider refused is not tried again until the consumer authorizes anew (no retry storms).
  if (rec.authStatus === 'invalid') {
    throw new VaultError(401, 'UnauthorizedError', `The ${def.name} connection is invalid: ${rec.authError ?? 'credentials were refused'}`, {
      type: 'refresh_token_connector_error',
      message: rec.authError ?? 'The provider refused the credentials; authorize again',
    });
  }
}

/** The connection with a token that is usable now: refreshed first when it is about to expire. */
export async function withUsableToken(ctx: VaultContext, refresher: RefreshCoordinator, scope: Scope, integration: Integration, unifiedApi: string, rec: ConnectionRecord) {
  checkUsable(integration.def, rec);
  return needsRefresh(rec, ctx.oauth.refreshMarginMs) ? refresher.refresh(scope, integration, unifiedApi) : rec;
}

/** `GET …/credentials` (Coffer extension): a usable access token, refreshed first when it is about to expire. */
export async function freshCredentials(ctx: VaultContext, refresher: RefreshCoordinator, scope: Scope, unifiedApi: string, serviceId: string) {
  const { integration, rec } = await oauthConnection(ctx, scope, unifiedApi, serviceId);
  const fresh = await withUsableToken(ctx, refresher, scope, integration, unifiedApi, rec);
  const expiresAt = fresh.tokenExpiresAt;
  return {
    access_token: fresh.credentials!.access_token,
    token_type: fresh.credentials!.token_type ?? 'bearer',
    scope: fresh.credentials!.scope ?? null,
    expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    expires_in: expiresAt === null ? null : Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)),
  };
}

/** `…/validate` for OAuth connections: a refresh regardless of expiry proves the grant still works. */
export async function validateOAuthConnection(ctx: VaultContext, refresher: RefreshCoordinator, scope: Scope, unifiedApi: string, serviceId: string) {
  const { integration, rec } = await oauthConnection(ctx, scope, unifiedApi, serviceId);
  checkUsable(integration.def, rec);
  const canRefresh = Boolean(rec.credentials?.refresh_token) || integration.def.oauth?.grant_type !== 'authorization_code';
  const checked = canRefresh ? await refresher.refresh(scope, integration, unifiedApi, { force: true }) : rec;
  return { id: `${unifiedApi}+${serviceId}`, state: stateOfRecord(integration.def, checked) };
}

function providerMessage(error: unknown): string {
  if (error instanceof oauth.ResponseBodyError) return `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`;
  return (error as Error).message;
}

/** `POST …/token`: the client_credentials or password grant from the stored settings; the token is stored, not returned. */
export async function requestGrantToken(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string) {
  const { integration, rec } = await oauthConnection(ctx, scope, unifiedApi, serviceId);
  const { def } = integration;
  const grant = def.oauth!.grant_type;
  if (grant === 'authorization_code') throw badRequest(`${def.name} uses the authorization-code flow; send the user to authorize_url instead`);
  const client = await oauthClientFor(ctx, scope.applicationId, def, integration.appConnector, rec.settings);
  const options = { ...client.http(), additionalParameters: client.settings.token_params };
  const scopeText = client.scopes.join(client.settings.scope_separator);
  let tokens: oauth.TokenEndpointResponse;
  try {
    if (grant === 'client_credentials') {
      const response = await oauth.clientCredentialsGrantRequest(client.as, client.client, client.clientAuth, scopeText ? { scope: scopeText } : {}, options);
      tokens = await oauth.processClientCredentialsResponse(client.as, client.client, response);
    } else {
      const { username, password } = rec.settings;
      if (typeof username !== 'string' || typeof password !== 'string') throw unprocessable('The password grant needs the username and password settings');
      const params: Record<string, string> = { username, password, ...(scopeText ? { scope: scopeText } : {}) };
      const response = await oauth.genericTokenEndpointRequest(client.as, client.client, client.clientAuth, 'password', params, options);
      tokens = await oauth.processGenericTokenEndpointResponse(client.as, client.client, response);
    }
  } catch (error) {
    if (error instanceof VaultError) throw error;
    const message = providerMessage(error);
    if (!(error instanceof oauth.ResponseBodyError)) {
      throw new VaultError(502, 'ConnectorExecutionError', `Could not reach ${def.name}'s token endpoint`, message);
    }
    await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, (draft) => {
      draft.authStatus = 'invalid';
      draft.authError = message;
    });
    throw new VaultError(400, 'ConnectorExecutionError', `${def.name} refused the ${grant} grant`, message);
  }
  await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, (draft) => applyTokenResponse(def, draft, tokens));
}
