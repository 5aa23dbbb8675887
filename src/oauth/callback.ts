// GET /vault/callback: the provider sends the browser back with a code (or an error); exchange, store, redirect.
import * as oauth from 'oauth4webapi';
import type { VaultContext } from '../vault/context.js';
import { loadConnection, mutateConnection, type Scope } from '../vault/connection-mutation.js';
import { resolveIntegration } from '../vault/integrations.js';
import { VaultError } from '../vault/errors.js';
import { callbackUrl } from './authorize.js';
import { browserMatches } from './browser-binding.js';
import { oauthClientFor } from './client.js';
import { issueConfirmToken } from './confirm.js';
import { invalidRequest, OAuthFlowError } from './flow-error.js';
import { consumeFlow, pendingFlowBinding } from '../store/oauth-flows.js';
import { takeCallbackState } from '../vault/callback-states.js';
import { withIssuerMetadata } from './issuer-metadata.js';
import { applyTokenResponse } from './tokens.js';

interface PendingFlow {
  state: string;
  scope: Scope;
  serviceId: string;
  unifiedApi: string;
  redirectUri: string;
  codeVerifier: string | null;
  nonce: string | null;
}

/**
 * A flow started by authorize, or a state the application made with `…/callback-state` (then without PKCE and not
 * bound to a browser: Coffer did not see the one that started it). A bound flow is checked before it is used up, so
 * a link delivered to the wrong browser does not spend the flow of the right one.
 */
async function takeFlow(ctx: VaultContext, state: string, cookieHeader: string | undefined): Promise<PendingFlow> {
  const binding = await pendingFlowBinding(ctx.db, state);
  if (binding && !browserMatches(binding, state, cookieHeader)) {
    throw new OAuthFlowError(403, 'browser_mismatch', 'This authorization was started in another browser; start again from the application in this browser');
  }
  const flow = await consumeFlow(ctx.db, state);
  if (flow) {
    const scope = { applicationId: flow.application_id, consumerId: flow.consumer_id };
    const open = (field: string, sealed: string) => ctx.keyring.open({ applicationId: flow.application_id, ownerId: flow.id, field }, sealed);
    const codeVerifier = flow.code_verifier ? await open('code_verifier', flow.code_verifier) : null;
    const redirectUri = await open('redirect_uri', flow.redirect_uri);
    return { state, scope, serviceId: flow.service_id, unifiedApi: flow.unified_api, redirectUri, codeVerifier, nonce: flow.nonce };
  }
  const appState = await takeCallbackState(ctx, state);
  if (appState) return { state, ...appState, codeVerifier: null, nonce: null };
  throw invalidRequest('invalid_state', 'This authorization is unknown, expired or already completed; start again from the application');
}

function withParams(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

function errorRedirect(flow: PendingFlow, errorType: string, message: string): string {
  return withParams(flow.redirectUri, {
    error_type: errorType,
    error_message: message,
    origin: 'authorize',
    service_id: flow.serviceId,
    application_id: flow.scope.applicationId,
  });
}

/** Returns where to send the browser; `cookieHeader` is the browser's Cookie header. */
export async function completeAuthorization(ctx: VaultContext, query: URLSearchParams, cookieHeader: string | undefined): Promise<string> {
  const state = query.get('state');
  if (!state) throw invalidRequest('missing_state', 'The state parameter is required');
  const flow = await takeFlow(ctx, state, cookieHeader);
  let integration;
  try {
    integration = await resolveIntegration(ctx, flow.scope.applicationId, flow.unifiedApi, flow.serviceId);
  } catch (error) {
    if (error instanceof VaultError) return errorRedirect(flow, 'integration_unavailable', error.message);
    throw error;
  }
  const { def } = integration;
  const existing = await loadConnection(ctx, flow.scope, flow.serviceId);
  let client;
  try {
    client = await oauthClientFor(ctx, flow.scope.applicationId, def, integration.appConnector, existing?.settings ?? {});
  } catch (error) {
    if (error instanceof VaultError) return errorRedirect(flow, 'integration_unavailable', error.message);
    throw error;
  }

  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(await withIssuerMetadata(ctx, client), client.client, query, flow.state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      return errorRedirect(flow, error.error, error.error_description ?? `${def.name} did not authorize the connection`);
    }
    // A wrong or (when required) missing iss and malformed responses: not trusted, so nothing is stored and nobody is redirected.
    throw invalidRequest('invalid_authorization_response', `The authorization response was rejected: ${(error as Error).message}`);
  }

  let tokens: oauth.TokenEndpointResponse;
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      client.as,
      client.client,
      client.clientAuth,
      params,
      callbackUrl(ctx),
      flow.codeVerifier ?? oauth.nopkce,
      { ...client.http(), additionalParameters: client.settings.token_params },
    );
    tokens = await oauth.processAuthorizationCodeResponse(client.as, client.client, response);
  } catch (error) {
    const message = error instanceof oauth.ResponseBodyError ? `${error.error}: ${error.error_description ?? ''}`.trim() : (error as Error).message;
    return errorRedirect(flow, 'token_exchange_failed', `${def.name} refused the authorization code (${message})`);
  }

  // A first authorization reads as Apideck's sequence: created, then updated with the tokens, then callable.
  let confirmToken: string | null = null;
  await mutateConnection(ctx, flow.scope, def, flow.unifiedApi, { create: true, announceBlank: true }, async (draft, tx) => {
    applyTokenResponse(def, draft, tokens);
    draft.confirmed = flow.nonce === null;
    confirmToken = flow.nonce === null ? null : await issueConfirmToken(tx, flow.scope, flow.serviceId);
  });
  if (confirmToken === null) return flow.redirectUri;
  const url = new URL(flow.redirectUri);
  url.hash = new URLSearchParams({ nonce: flow.nonce!, confirm_token: confirmToken, service_id: flow.serviceId }).toString();
  return url.toString();
}

export { OAuthFlowError };
