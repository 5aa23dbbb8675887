// GET /vault/revoke/{service_id}/{application_id}: RFC 7009 revocation at the provider, tokens wiped, back to `added`.
import * as oauth from 'oauth4webapi';
import type { FastifyBaseLogger } from 'fastify';
import type { VaultContext } from '../vault/context.js';
import { loadConnection, mutateConnection } from '../vault/connection-mutation.js';
import { resolveIntegration, type Integration } from '../vault/integrations.js';
import type { ConnectionRecord } from '../store/connection-record.js';
import { VaultError } from '../vault/errors.js';
import { oauthClientFor } from './client.js';
import { invalidRequest, OAuthFlowError } from './flow-error.js';
import { checkRedirectUri, checkState, useState, type BrowserRequest } from './state-checks.js';

/** RFC 7009 revocation of the connection's refresh and access tokens, where the connector has a revocation endpoint. */
export async function revokeAtProvider(ctx: VaultContext, integration: Integration, rec: ConnectionRecord): Promise<void> {
  const { def } = integration;
  const tokens = [rec.credentials?.refresh_token, rec.credentials?.access_token].filter((t): t is string => Boolean(t));
  if (!def.oauth?.revocation_url || !tokens.length) return;
  const client = await oauthClientFor(ctx, rec.applicationId, def, integration.appConnector, rec.settings);
  for (const token of tokens) {
    const response = await oauth.revocationRequest(client.as, client.client, client.clientAuth, token, client.http());
    await oauth.processRevocationResponse(response);
  }
}

/** Returns where to send the browser. */
export async function revokeAuthorization(ctx: VaultContext, request: BrowserRequest, log: FastifyBaseLogger): Promise<string> {
  const claims = await checkState(ctx, request, 'revoke');
  const redirectUri = await checkRedirectUri(ctx, request, claims);
  const scope = { applicationId: claims.applicationId, consumerId: claims.consumerId };
  let integration;
  try {
    integration = await resolveIntegration(ctx, claims.applicationId, claims.unifiedApi, claims.serviceId);
  } catch (error) {
    if (error instanceof VaultError) throw new OAuthFlowError(error.statusCode, error.typeName, error.message);
    throw error;
  }
  const { def } = integration;
  const rec = await loadConnection(ctx, scope, claims.serviceId);
  if (!rec) throw invalidRequest('no_connection', `There is no ${def.name} connection to revoke`);
  await useState(ctx, claims);
  try {
    await revokeAtProvider(ctx, integration, rec);
  } catch (error) {
    // The local copy goes regardless: a consumer who asked to disconnect must not stay connected here.
    log.warn({ service_id: def.id, err: (error as Error).message }, 'provider revocation failed; tokens wiped locally');
  }
  await mutateConnection(ctx, scope, def, claims.unifiedApi, { create: false, extraEvents: ['vault.connection.revoked'] }, (draft) => {
    draft.credentials = null;
    draft.tokenExpiresAt = null;
    draft.authStatus = 'revoked';
    draft.authError = null;
    draft.lastRefreshFailedAt = null;
    draft.credentialsExpireAt = null;
  });
  const url = new URL(redirectUri);
  url.searchParams.set('service_id', def.id);
  url.searchParams.set('origin', 'revoke');
  return url.toString();
}
