// The OAuth flows repository: authorization flows in progress, single-use authorize/revoke states, the states an
// application makes for the callback, and the nonce flow's confirm tokens. Flows and states are looked up by their
// own unguessable id (the callback does not know the application yet); everything else is scoped by application.
import type { Selectable } from 'kysely';
import type { ConnectionKey } from './connections.js';
import type { Executor } from './database.js';
import type { CallbackStatesTable, OAuthFlowsTable } from './schema.js';

/** Inserts a flow and drops the ones that expired more than `ttlMs` ago. */
export async function insertFlow(db: Executor, flow: Omit<OAuthFlowsTable, 'used_at' | 'created_at' | 'expires_at'>, ttlMs: number): Promise<void> {
  const now = Date.now();
  await db.insertInto('oauth_flows').values({ ...flow, used_at: null, created_at: now, expires_at: now + ttlMs }).execute();
  await db.deleteFrom('oauth_flows').where('expires_at', '<', now - ttlMs).execute();
}

/** The browser binding of a pending flow: its hash, null when unbound, undefined when there is no such pending flow. */
export async function pendingFlowBinding(db: Executor, id: string): Promise<string | null | undefined> {
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
export async function consumeFlow(db: Executor, id: string): Promise<Selectable<OAuthFlowsTable> | null> {
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
export async function useStateOnce(db: Executor, applicationId: string, jti: string, expiresAtSeconds: number): Promise<boolean> {
  const now = Date.now();
  const result = await db
    .insertInto('oauth_state_uses')
    .values({ jti, application_id: applicationId, expires_at: expiresAtSeconds * 1000, used_at: now })
    .onConflict((oc) => oc.column('jti').doNothing())
    .executeTakeFirst();
  await db.deleteFrom('oauth_state_uses').where('expires_at', '<', now).execute();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

/** Inserts an application's callback state and drops expired ones. */
export async function insertCallbackState(db: Executor, state: Omit<CallbackStatesTable, 'created_at'>): Promise<void> {
  const now = Date.now();
  await db.insertInto('callback_states').values({ ...state, created_at: now }).execute();
  await db.deleteFrom('callback_states').where('expires_at', '<', now).execute();
}

/** Takes an unexpired callback state exactly once; null when unknown, expired or taken by a concurrent callback. */
export async function consumeCallbackState(db: Executor, state: string): Promise<Selectable<CallbackStatesTable> | null> {
  const row = await db.selectFrom('callback_states').selectAll().where('state', '=', state).where('expires_at', '>', Date.now()).executeTakeFirst();
  if (!row) return null;
  const deleted = await db.deleteFrom('callback_states').where('state', '=', state).executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1 ? row : null;
}

export async function insertConfirmToken(db: Executor, key: ConnectionKey, tokenHash: string, expiresAt: number): Promise<void> {
  await db
    .insertInto('confirm_tokens')
    .values({
      token_hash: tokenHash,
      application_id: key.applicationId,
      consumer_id: key.consumerId,
      service_id: key.serviceId,
      expires_at: expiresAt,
      used_at: null,
      created_at: Date.now(),
    })
    .execute();
}

/** Marks an unexpired confirm token of this connection used; false when unknown, used or expired. */
export async function useConfirmToken(db: Executor, key: ConnectionKey, tokenHash: string): Promise<boolean> {
  const now = Date.now();
  const used = await db
    .updateTable('confirm_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('application_id', '=', key.applicationId)
    .where('consumer_id', '=', key.consumerId)
    .where('service_id', '=', key.serviceId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(used.numUpdatedRows) === 1;
}
