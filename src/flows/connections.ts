// The Flows Vault connections of one Coffer application: create, list, get, update, delete, and the views Auth0
// returns. Plain TypeScript: bodies arrive already parsed, errors leave as FlowsError.
import type { VaultContext } from '../vault/context.js';
import { iso } from '../vault/ids.js';
import { accountNameOf } from './account-name.js';
import {
  countFlowsConnections,
  deleteFlowsConnection,
  findFlowsConnection,
  insertFlowsConnection,
  listFlowsConnections,
  updateFlowsConnection,
  type FlowsConnectionRow,
} from '../store/flows-connections.js';
import { openSetup, openTokens, sealConnectionChange, sealNewConnection, type FlowsConnectionWrite } from './connection-secrets.js';
import { connectionNotFound, FlowsError, invalidQuery } from './errors.js';
import { obtainTokens } from './oauth-tokens.js';
import { TOKEN_SETUP_TYPES } from './setup-schemas.js';
import { parseCreateBody, parseUpdateBody, type Setup, type ValidationOptions } from './validate.js';

/** Auth0's `FlowsVaultConnectionSummary` (list items). */
export interface ConnectionSummary {
  id: string;
  app_id: string;
  name: string;
  account_name?: string;
  ready: boolean;
  created_at: string;
  updated_at: string;
  refreshed_at?: string;
  fingerprint: string;
}

/**
 * The single-connection view has the same fields (plus `environment`, which Auth0 never returned in observed traffic
 * and does not document, so Coffer leaves it out). Optional fields are omitted when unset rather than null, which is
 * what the response schemas allow.
 */
export type ConnectionView = ConnectionSummary;

export interface ListOptions {
  page: number;
  perPage: number;
  includeTotals: boolean;
}

export type ListResult = ConnectionSummary[] | { start: number; limit: number; total: number; connections: ConnectionSummary[] };

function viewOf(row: FlowsConnectionRow): ConnectionView {
  return {
    id: row.id,
    app_id: row.app_id,
    name: row.name,
    ...(row.account_name !== null ? { account_name: row.account_name } : {}),
    ready: row.setup_type !== null,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    ...(row.refreshed_at !== null ? { refreshed_at: iso(row.refreshed_at)! } : {}),
    fingerprint: row.fingerprint,
  };
}

const validationOptions = (ctx: VaultContext): ValidationOptions => ({ allowInsecureUrls: ctx.outbound.policy.allowInsecure });

/** What storing this setup writes: OAuth setups get their first token now, so a bad client is refused up front. */
async function writeFor(ctx: VaultContext, name: string, setup: Setup | null): Promise<FlowsConnectionWrite> {
  const obtained = setup && TOKEN_SETUP_TYPES.has(setup.type) ? await obtainTokens(ctx, setup) : null;
  return {
    name,
    setup,
    accountName: accountNameOf(setup),
    tokens: obtained?.tokens ?? null,
    tokenExpiresAt: obtained?.expiresAt ?? null,
    refreshedAt: obtained?.obtainedAt ?? null,
  };
}

export async function createConnection(ctx: VaultContext, applicationId: string, body: unknown): Promise<ConnectionView> {
  const input = parseCreateBody(body, validationOptions(ctx));
  const write = await writeFor(ctx, input.name, input.setup);
  const row = await insertFlowsConnection(ctx.db, applicationId, (tx) => sealNewConnection(ctx.keyring, tx, applicationId, input.appId, write));
  return viewOf(row);
}

export async function getConnection(ctx: VaultContext, applicationId: string, id: string): Promise<ConnectionView> {
  const row = await findFlowsConnection(ctx.db, applicationId, id);
  if (!row) throw connectionNotFound();
  return viewOf(row);
}

export async function listConnections(ctx: VaultContext, applicationId: string, options: ListOptions): Promise<ListResult> {
  const start = options.page * options.perPage;
  const rows = await listFlowsConnections(ctx.db, applicationId, { offset: start, limit: options.perPage });
  const connections = rows.map(viewOf);
  if (!options.includeTotals) return connections;
  const total = await countFlowsConnections(ctx.db, applicationId);
  return { start, limit: options.perPage, total, connections };
}

/** `name` and/or a whole new `setup` (validated against the stored app_id's variants; app_id cannot change). */
export async function updateConnection(ctx: VaultContext, applicationId: string, id: string, body: unknown): Promise<ConnectionView> {
  const current = await findFlowsConnection(ctx.db, applicationId, id);
  if (!current) throw connectionNotFound();
  const input = parseUpdateBody(body, current.app_id, validationOptions(ctx));
  if (input.name === undefined && input.setup === undefined) return viewOf(current);
  let write: FlowsConnectionWrite;
  if (input.setup !== undefined) {
    write = await writeFor(ctx, input.name ?? current.name, input.setup);
  } else {
    // A rename keeps the setup and tokens as they are (re-sealed under the current data key).
    write = {
      name: input.name!,
      setup: await openSetup(ctx.keyring, current),
      accountName: current.account_name,
      tokens: await openTokens(ctx.keyring, current),
      tokenExpiresAt: current.token_expires_at,
      refreshedAt: current.refreshed_at,
    };
  }
  const updated = await updateFlowsConnection(ctx.db, applicationId, current, (tx) => sealConnectionChange(ctx.keyring, tx, current, write));
  if (!updated) {
    if (!(await findFlowsConnection(ctx.db, applicationId, id))) throw connectionNotFound();
    throw new FlowsError(409, 'conflict', 'The connection was changed by another request; retry');
  }
  return viewOf(updated);
}

export async function deleteConnection(ctx: VaultContext, applicationId: string, id: string): Promise<void> {
  if (!(await deleteFlowsConnection(ctx.db, applicationId, id))) throw connectionNotFound();
}

const MAX_PAGE = 1000;
const MAX_PER_PAGE = 100;
const DEFAULT_PER_PAGE = 50;

function integerParam(query: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) throw invalidQuery(`'${name}' must be an integer`);
  const value = Number(raw);
  if (value < min || value > max) throw invalidQuery(`'${name}' must be from ${min} to ${max}`);
  return value;
}

/** `page` (0-based, 0–1000), `per_page` (1–100, default 50), `include_totals` (default false). */
export function parseListQuery(query: Record<string, unknown>): ListOptions {
  const unknown = Object.keys(query).filter((key) => !['page', 'per_page', 'include_totals'].includes(key));
  if (unknown.length) throw invalidQuery(`Additional properties not allowed: ${unknown.join(',')}`);
  const totals = query.include_totals;
  if (totals !== undefined && totals !== '' && totals !== 'true' && totals !== 'false') throw invalidQuery(`'include_totals' must be true or false`);
  return {
    page: integerParam(query, 'page', 0, MAX_PAGE, 0),
    perPage: integerParam(query, 'per_page', 1, MAX_PER_PAGE, DEFAULT_PER_PAGE),
    includeTotals: totals === 'true',
  };
}

/** Path ids are at most 30 characters (Auth0's limit); longer ones are a bad request, not a miss. */
export function checkConnectionId(id: string): string {
  if (id.length === 0 || id.length > 30) throw new FlowsError(400, 'invalid_uri', `Path validation error: 'id' must be 1 to 30 characters long`);
  return id;
}
