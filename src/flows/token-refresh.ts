// Keeps the access tokens of OAuth setups fresh: a client_credentials grant again shortly before expiry.
// Only `tokens`, `token_expires_at` and `refreshed_at` change; the fingerprint follows the configuration (name and
// setup), not the tokens. Writes are compare-and-swap on `version`: when two instances refresh the same connection,
// one write wins and the other is dropped (client_credentials tokens do not rotate anything, so both are valid).
import type { VaultContext } from '../vault/context.js';
import { listFlowsConnectionsExpiringBy, updateFlowsConnectionTokens, type FlowsConnectionRow } from '../store/flows-connections.js';
import { openSetup, sealRefreshedTokens } from './connection-secrets.js';
import { obtainTokens } from './oauth-tokens.js';

const BATCH = 100;

export async function refreshConnectionTokens(ctx: VaultContext, row: FlowsConnectionRow): Promise<boolean> {
  const setup = await openSetup(ctx.keyring, row);
  if (!setup) return false;
  const obtained = await obtainTokens(ctx, setup);
  const tokens = await sealRefreshedTokens(ctx.keyring, ctx.db, row, obtained.tokens, obtained.expiresAt, obtained.obtainedAt);
  return updateFlowsConnectionTokens(ctx.db, row.application_id, row, tokens);
}

/** Connections whose token expires within the refresh margin (plus one interval, so none expires between passes). */
export async function refreshDueFlowsConnections(ctx: VaultContext, intervalMs: number, onError: (id: string, error: Error) => void): Promise<number> {
  const due = await listFlowsConnectionsExpiringBy(ctx.db, Date.now() + ctx.oauth.refreshMarginMs + intervalMs, BATCH);
  let refreshed = 0;
  for (const row of due) {
    try {
      if (await refreshConnectionTokens(ctx, row)) refreshed += 1;
    } catch (error) {
      onError(row.id, error as Error);
    }
  }
  return refreshed;
}
