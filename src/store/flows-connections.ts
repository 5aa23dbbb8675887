// The Flows Vault connections repository (Auth0's /api/v2/flows/vault/connections). Secret columns (`setup`, `tokens`)
// arrive sealed: sealing belongs to the domain (flows/connection-secrets.ts), which may need the write's transaction.
import { atomically } from './transaction.js';
import type { Selectable } from 'kysely';
import type { Executor } from './database.js';
import type { FlowsVaultConnectionsTable } from './schema.js';

export type FlowsConnectionRow = Selectable<FlowsVaultConnectionsTable>;
/** A new row; the repository adds the application id it is scoped by. */
export type NewFlowsConnection = Omit<FlowsConnectionRow, 'application_id'>;
/** What an update replaces; id, application, app_id and created_at never change, `version` is the repository's. */
export type FlowsConnectionChange = Omit<FlowsConnectionRow, 'id' | 'application_id' | 'app_id' | 'created_at' | 'version'>;
export type FlowsConnectionTokens = Pick<FlowsConnectionRow, 'tokens' | 'token_expires_at' | 'refreshed_at'>;

/**
 * Inserts the row `build` makes inside the insert's transaction, so a data key created while sealing lands with the
 * row or not at all.
 */
export async function insertFlowsConnection(
  db: Executor,
  applicationId: string,
  build: (tx: Executor) => Promise<NewFlowsConnection>,
): Promise<FlowsConnectionRow> {
  return atomically(db, async (tx) => {
    const row: FlowsConnectionRow = { ...(await build(tx)), application_id: applicationId };
    await tx.insertInto('flows_vault_connections').values(row).execute();
    return row;
  });
}

/**
 * Compare-and-swap on `current.version`, with the values `build` makes inside the same transaction (as for inserts).
 * Returns the row as written, or undefined when it changed or went away meanwhile.
 */
export async function updateFlowsConnection(
  db: Executor,
  applicationId: string,
  current: FlowsConnectionRow,
  build: (tx: Executor) => Promise<FlowsConnectionChange>,
): Promise<FlowsConnectionRow | undefined> {
  return atomically(db, async (tx) => {
    const values = { ...(await build(tx)), version: current.version + 1 };
    const result = await tx
      .updateTable('flows_vault_connections')
      .set(values)
      .where('id', '=', current.id)
      .where('application_id', '=', applicationId)
      .where('version', '=', current.version)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? { ...current, ...values } : undefined;
  });
}

/** Compare-and-swap of the token columns only; name, setup, fingerprint and updated_at stay as they are. */
export async function updateFlowsConnectionTokens(
  db: Executor,
  applicationId: string,
  current: FlowsConnectionRow,
  tokens: FlowsConnectionTokens,
): Promise<boolean> {
  const result = await db
    .updateTable('flows_vault_connections')
    .set({ ...tokens, version: current.version + 1 })
    .where('id', '=', current.id)
    .where('application_id', '=', applicationId)
    .where('version', '=', current.version)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function findFlowsConnection(db: Executor, applicationId: string, id: string): Promise<FlowsConnectionRow | undefined> {
  return db.selectFrom('flows_vault_connections').selectAll().where('application_id', '=', applicationId).where('id', '=', id).executeTakeFirst();
}

/** Oldest first (id breaks ties), so pages are stable. */
export async function listFlowsConnections(db: Executor, applicationId: string, page: { offset: number; limit: number }): Promise<FlowsConnectionRow[]> {
  return db
    .selectFrom('flows_vault_connections')
    .selectAll()
    .where('application_id', '=', applicationId)
    .orderBy('created_at')
    .orderBy('id')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
}

export async function countFlowsConnections(db: Executor, applicationId: string): Promise<number> {
  const { total } = await db
    .selectFrom('flows_vault_connections')
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .where('application_id', '=', applicationId)
    .executeTakeFirstOrThrow();
  return Number(total);
}

/** False when there was no such connection. */
export async function deleteFlowsConnection(db: Executor, applicationId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('flows_vault_connections').where('application_id', '=', applicationId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/**
 * Connections holding a token that expires by `expiresBy`, soonest first. The one query across applications: the
 * background refresher serves them all, and each row carries its application id for the write that follows.
 */
export async function listFlowsConnectionsExpiringBy(db: Executor, expiresBy: number, limit: number): Promise<FlowsConnectionRow[]> {
  return db
    .selectFrom('flows_vault_connections')
    .selectAll()
    .where('tokens', 'is not', null)
    .where('token_expires_at', 'is not', null)
    .where('token_expires_at', '<=', expiresBy)
    .orderBy('token_expires_at')
    .limit(limit)
    .execute();
}
