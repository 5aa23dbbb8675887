// Refreshes tokens about to expire, and exercises refresh tokens that would otherwise go stale, off the request path.
import type { FastifyBaseLogger } from 'fastify';
import type { VaultContext } from '../vault/context.js';
import { resolveIntegration } from '../vault/integrations.js';
import type { RefreshCoordinator } from './refresh.js';
import { refreshDueFlowsConnections } from '../flows/token-refresh.js';

const BATCH = 100;

export interface BackgroundRefresherOptions {
  intervalMs: number;
  staleMs: number;
}

export async function refreshDueConnections(ctx: VaultContext, refresher: RefreshCoordinator, options: BackgroundRefresherOptions, log: FastifyBaseLogger): Promise<number> {
  const now = Date.now();
  const due = await ctx.connections.dueForRefresh(now + ctx.oauth.refreshMarginMs + options.intervalMs, now - options.staleMs, BATCH);
  let refreshed = 0;
  for (const row of due) {
    const scope = { applicationId: row.application_id, consumerId: row.consumer_id };
    try {
      const integration = await resolveIntegration(ctx, row.application_id, row.unified_api, row.service_id);
      if (integration.def.auth_type !== 'oauth2') continue;
      const expiring = row.token_expires_at !== null && row.token_expires_at <= now + ctx.oauth.refreshMarginMs + options.intervalMs;
      await refresher.refresh(scope, integration, row.unified_api, expiring ? {} : { stale: true });
      refreshed += 1;
    } catch (error) {
      log.warn({ service_id: row.service_id, err: (error as Error).message }, 'background token refresh failed');
    }
  }
  return refreshed;
}

export function startBackgroundRefresher(ctx: VaultContext, refresher: RefreshCoordinator, options: BackgroundRefresherOptions, log: FastifyBaseLogger): () => Promise<void> {
  if (options.intervalMs <= 0) return async () => {};
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    // The two passes are independent: a failing query in one does not skip the other.
    running = running
      .then(() => refreshDueConnections(ctx, refresher, options, log))
      .catch((error) => log.error({ err: error }, 'background refresher'))
      .then(() => refreshDueFlowsConnections(ctx, options.intervalMs, (id, error) => log.warn({ flows_connection_id: id, err: error.message }, 'flows token refresh failed')))
      .catch((error) => log.error({ err: error }, 'background refresher (flows)'));
  }, options.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
