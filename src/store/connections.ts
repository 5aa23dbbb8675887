// The connections repository, and the one unit of work every change to a connection goes through.
import { atomically } from './transaction.js';
import type { Kysely, Selectable } from 'kysely';
import type { Keyring } from '../crypto/keyring.js';
import type { ChangeFeed } from './change-feed.js';
import { ConnectionCache, type CachedConnection, type ConnectionCacheOptions } from './connection-cache.js';
import { decodeConnection, encodeConnection, type ConnectionRecord } from './connection-record.js';
import { listConsentRows } from './consents.js';
import { upsertConsumer } from './consumers.js';
import { listMappingRows, type MappingRow } from './custom-mappings.js';
import type { Dialect, Executor, Store } from './database.js';
import { insertEvents, type OutboxRow } from './outbox.js';
import type { ConnectionsTable, ConsentsTable, Database } from './schema.js';

export interface ConnectionKey {
  applicationId: string;
  consumerId: string;
  serviceId: string;
}

/** Returned by a change that finds nothing to do: the unit of work then writes nothing and emits nothing. */
export const UNCHANGED = Symbol('unchanged');

/**
 * A change to a connection: a function of the current record (a draft it may mutate) and of nothing read before the
 * unit of work began, because it runs again on the newer record when another writer got there first. `tx` is the
 * unit's transaction, for the writes that belong with the change (consents, custom mappings, confirm tokens).
 */
export type ConnectionChange = (draft: ConnectionRecord, tx: Executor, before: ConnectionRecord | null) => void | typeof UNCHANGED | Promise<void | typeof UNCHANGED>;

export interface ConnectionWriteOptions {
  /** Settings sealed rather than stored in clear (the connector's sensitive fields). */
  sealedSettings: ReadonlySet<string>;
  /** The record a missing connection starts from; without it a missing connection is not created (null is returned). */
  blank?: () => ConnectionRecord;
  /** The outbox events of the transition, from the records before and after the write. */
  events?: (before: ConnectionRecord | null, after: ConnectionRecord) => OutboxRow[];
}

export interface ConnectionWriteResult {
  record: ConnectionRecord;
  before: ConnectionRecord | null;
  created: boolean;
  /** False when the change returned UNCHANGED. */
  written: boolean;
}

/** Thrown when a compare-and-swap finds another writer's version; the unit of work re-reads and re-applies. */
export class VersionConflictError extends Error {
  constructor() {
    super('The connection was changed by another request; retry');
  }
}

const MAX_ATTEMPTS = 8;

/**
 * Worth running the unit again: SQLite's read snapshot went stale before the write (another process wrote), or
 * PostgreSQL chose this transaction as a deadlock victim.
 */
const isRetryable = (error: unknown) => {
  const code = String((error as { code?: unknown })?.code ?? '');
  return code.startsWith('SQLITE_BUSY') || code === '40P01' || code === '40001';
};


/** What GET of a connection shows: the record with its consents and the custom mappings of one unified API. */
export interface ConnectionSnapshot {
  record: ConnectionRecord | null;
  consents: Selectable<ConsentsTable>[];
  mappings: MappingRow[];
}

export class ConnectionRepository {
  /** The read model of hot reads (see connection-cache.ts). */
  readonly cache: ConnectionCache;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly keyring: Keyring,
    private readonly changes: ChangeFeed,
    cacheOptions: ConnectionCacheOptions,
    private readonly readRow?: Store['readConnectionRow'],
  ) {
    this.cache = new ConnectionCache(changes, cacheOptions);
  }

  /** The decoded record of `row`, its secrets opened. */
  decode(row: Selectable<ConnectionsTable>, db?: Executor): Promise<ConnectionRecord> {
    return decodeConnection(this.keyring, row, db);
  }

  private findRow(db: Executor, key: ConnectionKey, lock = false) {
    let query = db
      .selectFrom('connections')
      .selectAll()
      .where('application_id', '=', key.applicationId)
      .where('consumer_id', '=', key.consumerId)
      .where('service_id', '=', key.serviceId);
    if (lock && this.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  /**
   * The connection, decoded, or null: from the read model when it holds it. `fresh` reads the database, for a decision
   * that must see every commit so far (the refresh after taking its lease).
   */
  async find(key: ConnectionKey, options: { fresh?: boolean } = {}): Promise<ConnectionRecord | null> {
    if (!options.fresh) {
      const cached = this.cache.get(key);
      if (cached) return cached.record;
    }
    return (await this.load(key)).record;
  }

  /** The connection with its consents and `unifiedApi`'s custom mappings; a warm read touches no table. */
  async snapshot(key: ConnectionKey, unifiedApi: string): Promise<ConnectionSnapshot> {
    let entry = this.cache.get(key) ?? (await this.load(key));
    if (entry.record === null) return { record: null, consents: [], mappings: [] };
    const missing = !entry.consents || !entry.mappings?.has(unifiedApi);
    if (missing) {
      const startedAt = this.cache.startLoad();
      const [consents, mappings] = await Promise.all([
        entry.consents ?? listConsentRows(this.db, key),
        entry.mappings?.get(unifiedApi) ?? listMappingRows(this.db, { ...key, unifiedApi }),
      ]);
      if (this.cache.stillCurrent(startedAt)) {
        entry.consents = consents;
        (entry.mappings ??= new Map()).set(unifiedApi, mappings);
      } else {
        entry = { ...entry, consents, mappings: new Map([[unifiedApi, mappings]]) };
      }
    }
    return { record: entry.record, consents: entry.consents!, mappings: entry.mappings!.get(unifiedApi)! };
  }

  /** Reads the connection from the database (committed data only) and keeps it in the read model. */
  private async load(key: ConnectionKey): Promise<CachedConnection> {
    const startedAt = this.cache.startLoad();
    const row = this.readRow ? this.readRow(key.applicationId, key.consumerId, key.serviceId) : await this.findRow(this.db, key);
    const entry: CachedConnection = { record: row ? await this.decode(row) : null, cachedAt: Date.now() };
    this.cache.keep(key, entry, startedAt);
    return entry;
  }

  /** Every connection of a consumer, decoded, in service id order; a row the read model holds as is is not opened again. */
  async listForConsumer(applicationId: string, consumerId: string): Promise<ConnectionRecord[]> {
    const rows = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('consumer_id', '=', consumerId)
      .orderBy('service_id')
      .execute();
    return Promise.all(
      rows.map((row) => {
        const known = this.cache.peek({ applicationId, consumerId, serviceId: row.service_id })?.record;
        // Every unit of work moves `version`; the health write (markDownstream) moves only these two.
        const same = known && known.id === row.id && known.version === row.version && known.updatedAt === row.updated_at && known.lastDownstreamErrorAt === row.last_downstream_error_at;
        return same ? known : this.decode(row);
      }),
    );
  }

  /**
   * The unit of work: in one transaction, load and decode the connection once, apply `change` to a draft, seal and
   * write it with compare-and-swap on `version`, and append the transition's events. When another writer changed the
   * row meanwhile, the whole unit runs again on the newer record (so a refresh and a PATCH both land), up to
   * MAX_ATTEMPTS. Null when the connection does not exist and `blank` is not given.
   */
  async update(key: ConnectionKey, change: ConnectionChange, options: ConnectionWriteOptions): Promise<ConnectionWriteResult | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await atomically(this.db, (tx) => this.applyOnce(tx, key, change, options));
      } catch (error) {
        if (!(error instanceof VersionConflictError || isRetryable(error)) || attempt >= MAX_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  }

  private async applyOnce(tx: Executor, key: ConnectionKey, change: ConnectionChange, options: ConnectionWriteOptions): Promise<ConnectionWriteResult | null> {
    if (options.blank) await upsertConsumer(tx, key.applicationId, key.consumerId);
    const row = await this.findRow(tx, key, true);
    const before = row ? await this.decode(row, tx) : null;
    if (!before && !options.blank) return null;
    const draft = before ? structuredClone(before) : options.blank!();
    if ((await change(draft, tx, before)) === UNCHANGED) return { record: before ?? draft, before, created: false, written: false };
    const now = Math.max(Date.now(), draft.updatedAt);
    const values = await encodeConnection(this.keyring, options.sealedSettings, draft, tx);
    if (before) {
      const { id, application_id, created_at, ...changed } = values;
      const result = await tx
        .updateTable('connections')
        .set({ ...changed, version: before.version + 1, updated_at: now })
        .where('id', '=', id)
        .where('application_id', '=', application_id)
        .where('version', '=', before.version)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) throw new VersionConflictError();
    } else {
      await tx.insertInto('connections').values({ ...values, version: 1, updated_at: now }).execute();
    }
    const record: ConnectionRecord = { ...draft, version: (before?.version ?? 0) + 1, updatedAt: now };
    if (options.events) await insertEvents(tx, options.events(before, record));
    await this.changes.publish(tx, key);
    return { record, before, created: !before, written: true };
  }

  /** Deletes the connection with its consents and custom mappings, appending `events` of the deleted record. */
  async remove(key: ConnectionKey, events: (deleted: ConnectionRecord) => OutboxRow[]): Promise<ConnectionRecord | null> {
    const removed = await atomically(this.db, async (tx) => {
      const row = await this.findRow(tx, key, true);
      if (!row) return null;
      const record = await this.decode(row, tx);
      await deleteOwned(tx, key);
      await insertEvents(tx, events(record));
      await this.changes.publish(tx, key);
      return record;
    });
    return removed;
  }

  /**
   * Moves a connection to another connector (`migration_targets`): a new row under `moved.id` with the same secrets,
   * consents and mappings follow, the old row goes. Returns the existing target when the source is already gone (a
   * retry after success), null when neither exists; throws `targetExists` when both do.
   */
  async move(
    from: ConnectionKey,
    to: ConnectionKey,
    build: (source: ConnectionRecord) => ConnectionRecord,
    options: { sealedSettings: ReadonlySet<string>; events: (source: ConnectionRecord, moved: ConnectionRecord) => OutboxRow[]; targetExists: () => Error },
  ): Promise<ConnectionRecord | null> {
    return atomically(this.db, async (tx) => {
      const sourceRow = await this.findRow(tx, from, true);
      const targetRow = await this.findRow(tx, to, true);
      if (!sourceRow) return targetRow ? this.decode(targetRow, tx) : null;
      if (targetRow) throw options.targetExists();
      const source = await this.decode(sourceRow, tx);
      const now = Date.now();
      const moved = { ...build(source), version: 1, updatedAt: now };
      await tx.insertInto('connections').values({ ...(await encodeConnection(this.keyring, options.sealedSettings, moved, tx)), version: 1, updated_at: now }).execute();
      for (const table of ['consents', 'custom_mappings'] as const) {
        await tx
          .updateTable(table)
          .set({ service_id: to.serviceId })
          .where('application_id', '=', from.applicationId)
          .where('consumer_id', '=', from.consumerId)
          .where('service_id', '=', from.serviceId)
          .execute();
      }
      await tx.deleteFrom('connections').where('id', '=', source.id).where('application_id', '=', from.applicationId).execute();
      await insertEvents(tx, options.events(source, moved));
      await this.changes.publish(tx, from);
      await this.changes.publish(tx, to);
      return moved;
    });
  }

  /**
   * Health bookkeeping outside the versioned record: sets or clears `last_downstream_error_at` only on a transition (a
   * conditional UPDATE, so among concurrent calls exactly one wins and appends the events). Returns whether it won.
   */
  async markDownstream(rec: ConnectionRecord, failed: boolean, events: (after: ConnectionRecord) => OutboxRow[]): Promise<boolean> {
    const now = Date.now();
    return atomically(this.db, async (tx) => {
      const result = await tx
        .updateTable('connections')
        .set({ last_downstream_error_at: failed ? now : null, updated_at: now })
        .where('id', '=', rec.id)
        .where('application_id', '=', rec.applicationId)
        .where('last_downstream_error_at', failed ? 'is' : 'is not', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await insertEvents(tx, events({ ...rec, lastDownstreamErrorAt: failed ? now : null, updatedAt: now }));
      await this.changes.publish(tx, { applicationId: rec.applicationId, consumerId: rec.consumerId, serviceId: rec.serviceId });
      return true;
    });
  }

  /**
   * Takes the refresh lease of a connection for `owner` until `until` (epoch ms) when nobody holds it or it lapsed. A
   * single conditional UPDATE: no transaction stays open and no pooled connection is held while the provider answers.
   */
  async takeRefreshLease(rec: Pick<ConnectionRecord, 'id' | 'applicationId'>, owner: string, until: number): Promise<boolean> {
    const now = Date.now();
    const result = await this.db
      .updateTable('connections')
      .set({ refresh_lease_owner: owner, refresh_lease_until: until })
      .where('id', '=', rec.id)
      .where('application_id', '=', rec.applicationId)
      .where((eb) => eb.or([eb('refresh_lease_until', 'is', null), eb('refresh_lease_until', '<', now), eb('refresh_lease_owner', '=', owner)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async releaseRefreshLease(rec: Pick<ConnectionRecord, 'id' | 'applicationId'>, owner: string): Promise<void> {
    await this.db
      .updateTable('connections')
      .set({ refresh_lease_owner: null, refresh_lease_until: null })
      .where('id', '=', rec.id)
      .where('application_id', '=', rec.applicationId)
      .where('refresh_lease_owner', '=', owner)
      .execute();
  }

  /** Authorized OAuth connections whose token expires before `expiringBefore` or that were not written since `staleBefore`. */
  async dueForRefresh(expiringBefore: number, staleBefore: number, limit: number) {
    return this.db
      .selectFrom('connections')
      .select(['application_id', 'consumer_id', 'service_id', 'unified_api', 'token_expires_at'])
      .where('credentials', 'is not', null)
      .where('auth_status', '=', 'ok')
      .where('confirmed', '=', 1)
      .where((eb) =>
        eb.or([eb.and([eb('token_expires_at', 'is not', null), eb('token_expires_at', '<=', expiringBefore)]), eb('updated_at', '<', staleBefore)]),
      )
      .orderBy('token_expires_at')
      .limit(limit)
      .execute();
  }
}

/** The connection's row and the rows it owns. */
async function deleteOwned(tx: Executor, key: ConnectionKey): Promise<void> {
  for (const table of ['connections', 'consents', 'custom_mappings'] as const) {
    await tx
      .deleteFrom(table)
      .where('application_id', '=', key.applicationId)
      .where('consumer_id', '=', key.consumerId)
      .where('service_id', '=', key.serviceId)
      .execute();
  }
}
