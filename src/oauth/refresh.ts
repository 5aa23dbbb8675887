// Exactly-once token refresh: single-flight in the process, an advisory lock per connection across PostgreSQL
// instances, a re-read after the lock, and compare-and-swap persistence before any caller sees the new token.
import * as oauth from 'oauth4webapi';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { VaultEventType } from '../events/outbox.js';
import type { ConnectionRecord } from '../vault/connection-record.js';
import { loadConnection, writeConnection, type Scope } from '../vault/connection-mutation.js';
import type { VaultContext } from '../vault/context.js';
import { unprocessable, VaultError } from '../vault/errors.js';
import type { Integration } from '../vault/integrations.js';
import { oauthClientFor } from './client.js';
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

interface Outcome {
  record: ConnectionRecord;
  failure: VaultError | null;
}

function stillNeeded(ctx: VaultContext, current: ConnectionRecord, reason: RefreshReason): boolean {
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

function covers(ran: RefreshReason, wanted: RefreshReason, result: ConnectionRecord): boolean {
  if (wanted.force && !ran.force) return false;
  if (wanted.rejectedAccessToken !== undefined) return result.credentials?.access_token !== wanted.rejectedAccessToken;
  return true;
}

function isRejection(error: unknown): error is oauth.ResponseBodyError {
  return error instanceof oauth.ResponseBodyError && (error.error === 'invalid_grant' || error.error === 'invalid_client' || error.error === 'unauthorized_client');
}

export class RefreshCoordinator {
  private readonly inFlight = new Map<string, { reason: RefreshReason; promise: Promise<ConnectionRecord> }>();
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
    // A failure is recorded on the connection (committed) before it is thrown to the callers.
    const outcome = await this.attempt(scope, integration, unifiedApi, reason);
    if (outcome.failure) throw outcome.failure;
    return outcome.record;
  }

  private async attempt(scope: Scope, integration: Integration, unifiedApi: string, reason: RefreshReason): Promise<Outcome> {
    const { ctx } = this;
    if (ctx.dialect === 'postgres') {
      return ctx.db.transaction().execute(async (trx) => {
        const current = await loadConnection(ctx, scope, integration.def.id, trx);
        if (!current) throw unprocessable('The connection no longer exists');
        await sql`select pg_advisory_xact_lock(hashtextextended(${current.id}, 0))`.execute(trx);
        // Another instance may have refreshed while this one waited for the lock.
        const locked = await loadConnection(ctx, scope, integration.def.id, trx);
        return this.refreshLocked(integration, unifiedApi, locked!, reason, (write) => write(trx));
      });
    }
    // SQLite: one process, so the single-flight above is the lock; the write is its own short transaction.
    const current = await loadConnection(ctx, scope, integration.def.id);
    if (!current) throw unprocessable('The connection no longer exists');
    return this.refreshLocked(integration, unifiedApi, current, reason, (write) => ctx.db.transaction().execute(write));
  }

  private async refreshLocked(
    integration: Integration,
    unifiedApi: string,
    current: ConnectionRecord,
    reason: RefreshReason,
    inTransaction: <T>(write: (trx: Transaction<Database>) => Promise<T>) => Promise<T>,
  ): Promise<Outcome> {
    const { ctx } = this;
    const { def } = integration;
    if (!current.credentials) throw unprocessable(`The ${def.name} connection is not authorized`);
    if (!stillNeeded(ctx, current, reason)) return { record: current, failure: null };
    const draft = structuredClone(current);
    const events: VaultEventType[] = [];
    let failure: VaultError | null = null;
    try {
      this.refreshes += 1;
      applyTokenResponse(def, draft, await requestNewToken(ctx, integration, current));
      if (current.lastRefreshFailedAt !== null) events.push('vault.connection.token_refresh.recovered');
    } catch (error) {
      // Configuration problems (no OAuth client, missing settings, no refresh token) are not provider failures.
      if (error instanceof VaultError) throw error;
      const now = Date.now();
      draft.lastRefreshFailedAt = now;
      if (isRejection(error)) {
        // For good: no retries until the consumer authorizes again.
        draft.authStatus = 'invalid';
        draft.authError = `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`;
        events.push('vault.connection.token_refresh.failed');
        failure = new RefreshFailedError(401, 'UnauthorizedError', `${def.name} refused the refresh token`, {
          type: 'refresh_token_connector_error',
          message: draft.authError,
        });
      } else {
        // Transient (network, 5xx): keep the credentials for the retention window and try again later.
        draft.credentialsExpireAt = current.credentialsExpireAt ?? now + FAILED_REFRESH_RETENTION_MS;
        if (current.lastRefreshFailedAt === null) events.push('vault.connection.token_refresh.pending');
        failure = new RefreshFailedError(502, 'ConnectorExecutionError', `Could not refresh the ${def.name} token: ${(error as Error).message}`);
      }
    }
    const record = await inTransaction((trx) => writeConnection(ctx, trx, def, unifiedApi, current, draft, events));
    return { record, failure };
  }
}
