// GET /vault/authorize/{service_id}/{application_id}: checks, then a 301 to the provider with PKCE.
import * as oauth from 'oauth4webapi';
import type { VaultContext } from '../vault/context.js';
import { loadConnection } from '../vault/connection-mutation.js';
import { resolveIntegration, type Integration } from '../vault/integrations.js';
import { VaultError } from '../vault/errors.js';
import { isBlank, withDefaults } from '../vault/connection-state.js';
import { bindingCookie, newBinding } from './browser-binding.js';
import { oauthClientFor, type OAuthClient } from './client.js';
import { invalidRequest, OAuthFlowError } from './flow-error.js';
import { createFlow, newFlowId } from './flows.js';
import { checkRedirectUri, checkState, useState, type BrowserRequest, type VerifiedState } from './state-checks.js';

export interface AuthorizeRequest extends BrowserRequest {
  scope?: string;
  nonce?: string;
}

export function callbackUrl(ctx: VaultContext): string {
  return `${ctx.publicUrl}/vault/callback`;
}

/** Domain errors (unknown connector, no OAuth client, bad settings) become pages with the same status. */
async function asPage<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof VaultError) throw new OAuthFlowError(error.statusCode, error.typeName, error.message);
    throw error;
  }
}

async function checkIntegration(ctx: VaultContext, claims: VerifiedState): Promise<Integration> {
  const integration = await asPage(() => resolveIntegration(ctx, claims.applicationId, claims.unifiedApi, claims.serviceId));
  if (integration.def.oauth?.grant_type !== 'authorization_code') {
    throw invalidRequest('unsupported_connector', `${integration.def.name} does not use the authorization-code flow`);
  }
  return integration;
}

function checkSettingsRequiredForAuthorization(integration: Integration, settings: Record<string, unknown>): void {
  const effective = withDefaults(integration.def, settings);
  const missing = integration.def.settings_required_for_authorization.filter((id) => isBlank(effective[id]));
  if (missing.length) {
    throw new OAuthFlowError(422, 'missing_settings', `Fill in ${missing.join(', ')} before authorizing ${integration.def.name}`);
  }
}

async function buildAuthorizationUrl(ctx: VaultContext, client: OAuthClient, flowId: string, verifier: string | null, scope: string | undefined): Promise<string> {
  const url = new URL(client.as.authorization_endpoint!);
  const scopes = scope ? scope.split(/[\s,]+/).filter(Boolean) : client.scopes;
  for (const [key, value] of Object.entries(client.settings.authorize_params)) url.searchParams.set(key, value);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.clientId);
  url.searchParams.set('redirect_uri', callbackUrl(ctx));
  if (scopes.length) url.searchParams.set('scope', scopes.join(client.settings.scope_separator));
  url.searchParams.set('state', flowId);
  if (verifier) {
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.toString();
}

/** Where to send the browser, and the cookie that binds the flow to it (null when the flow is not bound). */
export interface AuthorizeRedirect {
  location: string;
  cookie: string | null;
}

export async function startAuthorization(ctx: VaultContext, request: AuthorizeRequest): Promise<AuthorizeRedirect> {
  const claims = await checkState(ctx, request, 'authorize');
  const redirectUri = await checkRedirectUri(ctx, request, claims);
  const integration = await checkIntegration(ctx, claims);
  const scope = { applicationId: claims.applicationId, consumerId: claims.consumerId };
  const current = await loadConnection(ctx, scope, claims.serviceId);
  if (claims.firstOnly && current?.credentials) {
    throw new OAuthFlowError(403, 'reauthorize_not_allowed', `${integration.def.name} is already authorized and this session does not allow re-authorizing it`);
  }
  const settings = current?.settings ?? {};
  checkSettingsRequiredForAuthorization(integration, settings);
  const client = await asPage(() => oauthClientFor(ctx, claims.applicationId, integration.def, integration.appConnector, settings));
  await useState(ctx, claims);
  const verifier = client.settings.pkce ? oauth.generateRandomCodeVerifier() : null;
  // The verifier and the return URL (which may hold the Hosted Vault's session token) are sealed to this flow's row.
  const flowId = newFlowId();
  // Unbound only when the connector or the session says the flow is completed in another browser.
  const bound = client.settings.browser_binding !== false && claims.browserBinding !== false;
  const binding = bound ? newBinding() : null;
  const seal = (field: string, value: string) => ctx.keyring.seal({ applicationId: claims.applicationId, ownerId: flowId, field }, value);
  await createFlow(ctx.db, {
    id: flowId,
    application_id: claims.applicationId,
    consumer_id: claims.consumerId,
    service_id: claims.serviceId,
    unified_api: claims.unifiedApi,
    redirect_uri: await seal('redirect_uri', redirectUri),
    code_verifier: verifier ? await seal('code_verifier', verifier) : null,
    nonce: request.nonce ?? null,
    scope: request.scope ?? null,
    browser_binding: binding?.hash ?? null,
  });
  return {
    location: await buildAuthorizationUrl(ctx, client, flowId, verifier, request.scope),
    cookie: binding ? bindingCookie(ctx, flowId, binding.value) : null,
  };
}
