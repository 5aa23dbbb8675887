// Exactly-once token refresh, and a rotated refresh token that is never lost.
//
// - Single-flight in the process (one promise per connection), then a lease across processes and instances: a
//   `refresh_lease_*` column pair taken with one conditional UPDATE. A lease, not a lock held in the database: an
//   advisory lock or `SELECT … FOR UPDATE` would keep a transaction, and so a pooled connection, open for as long as the
//   provider takes to answer (up to PROVIDER_TIMEOUT_MS); twenty slow providers would then starve the pool and stall
//   every other request. A lease costs two short statements and nothing while the provider answers; a process that
//   dies holding one only delays the next refresh until the lease lapses.
// - After taking the lease the row is read again: another instance may have refreshed meanwhile.
// - The provider's answer is written through the connection unit of work as a change of the token fields only,
//   re-applied to the newest record when a PATCH, a consent or a health write got there first, so both land. It is
//   dropped when the grant it refreshed is gone (revoked, or replaced by a new authorization): revoke wins.
import crypto from 'node:crypto';
import * as oauth from 'oauth4webapi';
import type { VaultEventType } from '../events/outbox.js';
import type { ConnectionRecord, TokenSet } from '../store/connection-record.js';
import { UNCHANGED } from '../store/connections.js';
import { loadConnection, mutateConnection, type Scope } from '../vault/connection-mutation.js';
import type { VaultContext } from '../vault/context.js';
import { unprocessable, VaultError } from '../vault/errors.js';
import type { Integration } from '../vault/integrations.js';
import { oauthClientFor, PROVIDER_TIMEOUT_MS } from './client.js';
import { revokeAtProvider } from './revoke.js';
import { applyTokenResponse, FAILED_REFRESH_RETENTION_MS, needsRefresh } from './tokens.js';

export interface RefreshReason {
  /** Refresh even if the token looks valid (`…/validate`). */
  force?: boolean;
  /** The access token a provider just refused: refresh only if it is still the stored one. */
  rejectedAccessToken?: string;
  /** Exercise an idle refresh token so providers with idle expiry keep it alive. */
  stale?: boolean;
}

export class RefreshFailedError extends VaultError {}

/** A lease outlives the provider call it covers, so it never lapses while its holder still waits for an answer. */
const LEASE_MS = PROVIDER_TIMEOUT_MS + 15_000;
const LEASE_POLL_MS = 100;

/** Whether `rec` still holds the grant a refresh started from: not revoked, not replaced by a new authorization. */
export function sameGrant(rec: ConnectionRecord, used: TokenSet): boolean {
  if (!rec.credentials || rec.authStatus === 'revoked') return false;
  return used.refresh_token ? rec.credentials.refresh_token === used.refresh_token : rec.credentials.access_token === used.access_token;
}

export function stillNeeded(ctx: VaultContext, current: ConnectionRecord, reason: RefreshReason): boolean {
  if (reason.rejectedAccessToken !== undefined) return current.credentials?.access_token === reason.rejectedAccessToken;
  if (reason.stale) return Boolean(current.credentials?.refresh_token) && Date.now() - current.updatedAt > 60_000;
  return reason.force === true || needsRefresh(current, ctx.oauth.refreshMarginMs);
}

/** Asks the provider for a new token: refresh_token grant, or the original grant again where there is no refresh token. */
async function requestNewToken(ctx: VaultContext, integration: Integration, rec: ConnectionRecord): Promise<oauth.TokenEndpointResponse> {
  const client = await oauthClientFor(ctx, rec.applicationId, integration.def, integration.appConnector, rec.settings);
  const options = { ...client.http(), additionalParameters: client.settings.token_params };
  const refreshToken = rec.credentials?.refresh_token;
  if (refreshToken) {
    const response = await oauth.refreshTokenGrantRequest(client.as, client.client, client.clientAuth, refreshToken, options);
    return oauth.processRefreshTokenResponse(client.as, client.client, response);
  }
  const scope = client.scopes.join(client.settings.scope_separator);
  if (client.settings.grant_type === 'client_credentials') {
    const response = await oauth.clientCredentialsGrantRequest(client.as, client.client, client.clientAuth, scope ? { scope } : {}, options);
    return oauth.processClientCredentialsResponse(client.as, client.client, response);
  }
  if (client.settings.grant_type === 'password') {
    const params: Record<string, string> = { username: String(rec.settings.username ?? ''), password: String(rec.settings.password ?? '') };
    if (scope) params.scope = scope;
    const response = await oauth.genericTokenEndpointRequest(client.as, client.client, client.clientAuth, 'password', params, options);
    return oauth.processGenericTokenEndpointResponse(client.as, client.client, response);
  }
  throw new RefreshFailedError(401, 'UnauthorizedError', 'The access token has expired and the provider issued no refresh token', {
    type: 'refresh_token_connector_error',
    message: 'No refresh token: the consumer must authorize the connection again',
  });
}

export function covers(ran: RefreshReason, wanted: RefreshReason, result: ConnectionRecord): boolean {
  if (wanted.force && !ran.force) return false;
  if (wanted.rejectedAccessToken !== undefined) return result.credentials?.access_token !== wanted.rejectedAccessToken;
  return true;
}

function isRejection(error: unknown): error is oauth.ResponseBodyError {
  return error instanceof oauth.ResponseBodyError && (error.error === 'invalid_grant' || error.error === 'invalid_client' || error.error === 'unauthorized_client');
}

export class RefreshCoordinator {
  private readonly inFlight = new Map<string, { reason: RefreshReason; promise: Promise<ConnectionRecord> }>();
  private readonly leaseOwner = `${process.pid}:${crypto.randomUUID()}`;
  /** Provider calls made by this process (for logs and tests). */
  refreshes = 0;

  constructor(private readonly ctx: VaultContext) {}

  /** Returns the connection with a usable token, refreshing it at most once across every caller and instance. */
  refresh(scope: Scope, integration: Integration, unifiedApi: string, reason: RefreshReason = {}): Promise<ConnectionRecord> {
    const key = `${scope.applicationId}\u0000${scope.consumerId}\u0000${integration.def.id}`;
    const running = this.inFlight.get(key);
    // Joining a flight started for a weaker reason (a background pass that finds nothing to do) must not hand a
    // caller back the very token the provider just refused, nor let a forced check pass without a refresh.
    if (running) {
      return running.promise.then((rec) => (covers(running.reason, reason, rec) ? rec : this.refresh(scope, integration, unifiedApi, reason)));
    }
    const promise = this.run(scope, integration, unifiedApi, reason).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, { reason, promise });
    return promise;
  }

  private async run(scope: Scope, integration: Integration, unifiedApi: string, reason: RefreshReason): Promise<ConnectionRecord> {
    const { def } = integration;
    let current = await this.current(scope, def, { fresh: false });
    if (!stillNeeded(this.ctx, current, reason)) return current;
    const leased = { id: current.id, applicationId: current.applicationId };
    const giveUpAt = Date.now() + LEASE_MS + 5_000;
    while (!(await this.ctx.connections.takeRefreshLease(leased, this.leaseOwner, Date.now() + LEASE_MS))) {
      if (Date.now() > giveUpAt) throw new VaultError(503, 'ServiceUnavailableError', `Another instance is still refreshing the ${def.name} token; retry`);
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
      // The holder may have finished: its token is ours too.
      current = await this.current(scope, def);
      if (!stillNeeded(this.ctx, current, reason)) return current;
    }
    try {
      current = await this.current(scope, def);
      if (!stillNeeded(this.ctx, current, reason)) return current;
      return await this.refreshLeased(scope, integration, unifiedApi, current);
    } finally {
      // A release that fails must not hide the refresh's outcome: the lease lapses on its own.
      await this.ctx.connections.releaseRefreshLease(leased, this.leaseOwner).catch(() => {});
    }
  }

  /** The connection as committed so far (`fresh`, the default): another instance may have just refreshed it. */
  private async current(scope: Scope, def: Integration['def'], { fresh = true } = {}): Promise<ConnectionRecord> {
    const rec = await loadConnection(this.ctx, scope, def.id, { fresh });
    if (!rec) throw unprocessable('The connection no longer exists');
    if (!rec.credentials) throw unprocessable(`The ${def.name} connection is not authorized`);
    return rec;
  }

  /** Calls the provider (no transaction open), then records the answer or the failure as a change of the token fields. */
  private async refreshLeased(scope: Scope, integration: Integration, unifiedApi: string, current: ConnectionRecord): Promise<ConnectionRecord> {
    const { ctx } = this;
    const { def } = integration;
    const used = current.credentials!;
    let tokens: oauth.TokenEndpointResponse | null = null;
    let failure: RefreshFailedError | null = null;
    let rejection: string | null = null;
    try {
      this.refreshes += 1;
      tokens = await requestNewToken(ctx, integration, current);
    } catch (error) {
      // Configuration problems (no OAuth client, missing settings, no refresh token) are not provider failures.
      if (error instanceof VaultError) throw error;
      if (isRejection(error)) {
        rejection = `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`;
        failure = new RefreshFailedError(401, 'UnauthorizedError', `${def.name} refused the refresh token`, { type: 'refresh_token_connector_error', message: rejection });
      } else {
        failure = new RefreshFailedError(502, 'ConnectorExecutionError', `Could not refresh the ${def.name} token: ${(error as Error).message}`);
      }
    }
    const { record, written } = await mutateConnection(
      ctx,
      scope,
      def,
      unifiedApi,
      { create: false, extraEvents: (before) => refreshEvents(before!, tokens !== null, rejection !== null) },
      (draft) => {
        if (!sameGrant(draft, used)) return UNCHANGED;
        if (tokens) return applyTokenResponse(def, draft, tokens);
        const now = Date.now();
        if (rejection !== null) {
          // For good: no retries until the consumer authorizes again.
          draft.authStatus = 'invalid';
          draft.authError = rejection;
        } else {
          // Transient (network, 5xx): keep the credentials for the retention window and try again later.
          draft.credentialsExpireAt = draft.credentialsExpireAt ?? now + FAILED_REFRESH_RETENTION_MS;
        }
        draft.lastRefreshFailedAt = now;
      },
    );
    if (!written) {
      // Revoked or authorized anew while the provider answered: the new tokens belong to a grant nobody holds any more.
      // Revoked in the background: the caller's answer does not wait on a provider that may be slow.
      if (tokens) void this.discard(integration, current, tokens).catch(() => {});
      if (record.credentials && record.authStatus === 'ok') return record;
      throw unprocessable(`The ${def.name} connection was revoked while its token was being refreshed; the consumer must authorize it again`);
    }
    if (failure) throw failure;
    return record;
  }

  private async discard(integration: Integration, current: ConnectionRecord, tokens: oauth.TokenEndpointResponse): Promise<void> {
    const orphan = structuredClone(current);
    applyTokenResponse(integration.def, orphan, tokens);
    await revokeAtProvider(this.ctx, integration, orphan);
  }
}

/** The events of a refresh's outcome, from the record it changed. */
export function refreshEvents(before: ConnectionRecord, succeeded: boolean, rejected: boolean): VaultEventType[] {
  if (succeeded) return before.lastRefreshFailedAt !== null ? ['vault.connection.token_refresh.recovered'] : [];
  if (rejected) return ['vault.connection.token_refresh.failed'];
  return before.lastRefreshFailedAt === null ? ['vault.connection.token_refresh.pending'] : [];
}
