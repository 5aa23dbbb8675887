// Authorization flows in progress and the single use of Coffer's authorize/revoke states.
import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database, OAuthFlowsTable } from '../store/schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** How long a user may spend at the provider between authorize and callback. */
export const FLOW_TTL_MS = 10 * 60 * 1000;

export const newFlowId = () => crypto.randomBytes(32).toString('base64url');

export async function createFlow(db: Db, flow: Omit<OAuthFlowsTable, 'used_at' | 'created_at' | 'expires_at'>): Promise<string> {
  const now = Date.now();
  const { id } = flow;
  await db.insertInto('oauth_flows').values({ ...flow, used_at: null, created_at: now, expires_at: now + FLOW_TTL_MS }).execute();
  await db.deleteFrom('oauth_flows').where('expires_at', '<', now - FLOW_TTL_MS).execute();
  return id;
}

/** The browser binding of a pending flow: its hash, null when unbound, undefined when there is no such pending flow. */
export async function pendingFlowBinding(db: Db, id: string): Promise<string | null | undefined> {
  const row = await db
    .selectFrom('oauth_flows')
    .select('browser_binding')
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', Date.now())
    .executeTakeFirst();
  return row?.browser_binding;
}

/** Marks the flow used and returns it; null when unknown, already used or expired (replays land here). */
export async function consumeFlow(db: Db, id: string): Promise<OAuthFlowsTable | null> {
  const now = Date.now();
  const result = await db
    .updateTable('oauth_flows')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return null;
  return (await db.selectFrom('oauth_flows').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Records a state's `jti`; false when it was used before. */
export async function useStateOnce(db: Db, applicationId: string, jti: string, expiresAtSeconds: number): Promise<boolean> {
  const now = Date.now();
  const result = await db
    .insertInto('oauth_state_uses')
    .values({ jti, application_id: applicationId, expires_at: expiresAtSeconds * 1000, used_at: now })
    .onConflict((oc) => oc.column('jti').doNothing())
    .executeTakeFirst();
  await db.deleteFrom('oauth_state_uses').where('expires_at', '<', now).execute();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}
