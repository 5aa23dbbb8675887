// Short-lived states an application creates for the OAuth callback (`…/callback-state`).
import crypto from 'node:crypto';
import type { Scope } from './connection-mutation.js';
import type { VaultContext } from './context.js';
import { badRequest } from './errors.js';
import { resolveIntegration } from './integrations.js';
import { consumeCallbackState, insertCallbackState } from '../store/oauth-flows.js';

const CALLBACK_STATE_TTL_MS = 10 * 60 * 1000;

function checkRedirectUri(uri: string | undefined): string {
  if (!uri) throw badRequest('redirect_uri is required', { missing: [{ redirect_uri: 'required' }] });
  try {
    const url = new URL(uri);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw badRequest('redirect_uri must be an absolute http(s) URL', { invalid: [{ redirect_uri: 'absolute http(s) URL' }] });
  }
  return uri;
}

export async function createCallbackState(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, redirectUri: string | undefined) {
  await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  const uri = checkRedirectUri(redirectUri);
  const state = crypto.randomUUID();
  await insertCallbackState(ctx.db, {
    state,
    application_id: scope.applicationId,
    consumer_id: scope.consumerId,
    unified_api: unifiedApi,
    service_id: serviceId,
    redirect_uri: uri,
    expires_at: Date.now() + CALLBACK_STATE_TTL_MS,
  });
  return { state };
}

/** The callback's use of a state made here: taken once, then gone. */
export async function takeCallbackState(ctx: VaultContext, state: string) {
  const row = await consumeCallbackState(ctx.db, state);
  if (!row) return null;
  return {
    scope: { applicationId: row.application_id, consumerId: row.consumer_id } satisfies Scope,
    serviceId: row.service_id,
    unifiedApi: row.unified_api,
    redirectUri: row.redirect_uri,
  };
}
