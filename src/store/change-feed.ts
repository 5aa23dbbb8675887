// Tells every process what another one changed, so in-memory read models (tenant configuration, connections) drop
// exactly what went stale. A write publishes the scope it changed inside its own transaction; this process's
// listeners hear it once the transaction commits, other processes' as soon as they can see the commit:
// - SQLite: the scope is a row of `change_log`; a process looks for new rows whenever `PRAGMA data_version` (a read of
//   the WAL index in shared memory, no table access) says another connection committed, before every cached read.
// - PostgreSQL: the scope is the payload of a NOTIFY on a channel per schema (sent at commit); the writer answers only
//   once its own notification came back, so a client reading through another instance after the answer sees it.
import crypto from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { sql } from 'kysely';
import type { Executor } from './database.js';
import { afterCommit } from './transaction.js';

/** What a write changed: a whole application, one consumer of it, or one connection of that consumer. */
export interface ChangedScope {
  applicationId: string;
  consumerId?: string;
  serviceId?: string;
}

/** `null`: anything may have changed (a missed notification, a pruned log): drop everything. */
export type ChangeListener = (scope: ChangedScope | null) => void;

export interface ChangeFeed {
  /** Hands listeners what other processes committed since the last call; cheap enough to call before every read. */
  catchUp(): void;
  subscribe(listener: ChangeListener): void;
  /** In `db`'s transaction when it is one: tells every process, this one included, that `scope` changed. */
  publish(db: Executor, scope: ChangedScope): Promise<void>;
  close(): Promise<void>;
}

class Listeners {
  private readonly all = new Set<ChangeListener>();
  add(listener: ChangeListener): void {
    this.all.add(listener);
  }
  emit(scope: ChangedScope | null): void {
    for (const listener of this.all) listener(scope);
  }
}

/** A change log row older than this is pruned; every read model drops entries well before (MAX_CACHE_AGE_MS). */
export const CHANGE_LOG_RETENTION_MS = 10 * 60_000;
const PRUNE_EVERY_MS = 60_000;
/** More new rows than this at once: cheaper to drop everything than to replay them. */
const MAX_REPLAY = 1_000;

interface ChangeLogRow {
  seq: number;
  application_id: string;
  consumer_id: string | null;
  service_id: string | null;
}

const scopeOf = (applicationId: string, consumerId: string | null, serviceId: string | null): ChangedScope => ({
  applicationId,
  ...(consumerId === null ? {} : { consumerId }),
  ...(serviceId === null ? {} : { serviceId }),
});

/**
 * `reader` is a read-only connection of this process: it sees committed data only, and its data_version moves on
 * every commit of another connection, this process's writer included.
 */
export function sqliteChangeFeed(reader: () => BetterSqlite3.Database, writer: BetterSqlite3.Database): ChangeFeed {
  const listeners = new Listeners();
  let statements: { version: BetterSqlite3.Statement; since: BetterSqlite3.Statement<[number, number], ChangeLogRow> } | null = null;
  let seenVersion: unknown = null;
  let lastSeq = 0;
  // Once per turn of the event loop is enough: every request handled in this turn arrived before its first check, so
  // a change another process finished before any of them was sent is already visible to it.
  let checkedThisTurn = false;
  const nextTurn = () => {
    checkedThisTurn = false;
  };
  const prune = setInterval(() => {
    try {
      writer.prepare('delete from change_log where at < ?').run(Date.now() - CHANGE_LOG_RETENTION_MS);
    } catch {
      // Busy or closing: the next pass prunes.
    }
  }, PRUNE_EVERY_MS);
  prune.unref();
  return {
    catchUp() {
      if (checkedThisTurn) return;
      checkedThisTurn = true;
      setImmediate(nextTurn);
      if (!statements) {
        // Opened on first use, after migrations created change_log; nothing was cached before this.
        const db = reader();
        statements = {
          version: db.prepare('PRAGMA data_version').pluck(),
          since: db.prepare('select seq, application_id, consumer_id, service_id from change_log where seq > ? order by seq limit ?'),
        };
        seenVersion = statements.version.get();
        lastSeq = Number(db.prepare('select coalesce(max(seq), 0) from change_log').pluck().get());
        return;
      }
      const version = statements.version.get();
      if (version === seenVersion) return;
      seenVersion = version;
      const rows = statements.since.all(lastSeq, MAX_REPLAY + 1);
      if (rows.length === 0) return;
      lastSeq = rows[rows.length - 1].seq;
      if (rows.length > MAX_REPLAY) return listeners.emit(null);
      for (const row of rows) listeners.emit(scopeOf(row.application_id, row.consumer_id, row.service_id));
    },
    subscribe: (listener) => listeners.add(listener),
    async publish(db, scope) {
      await db
        .insertInto('change_log')
        .values({ application_id: scope.applicationId, consumer_id: scope.consumerId ?? null, service_id: scope.serviceId ?? null, at: Date.now() })
        .execute();
      await afterCommit(db, () => listeners.emit(scope));
    },
    async close() {
      clearInterval(prune);
    },
  };
}

/**
 * How long after its commit a writer waits for its own notification before answering anyway (the listener may be
 * reconnecting). Counted from the commit, not from the NOTIFY: a slow transaction must not use the wait up.
 */
const ECHO_WAIT_MS = 1_000;
/** An echo whose transaction rolled back never comes: its waiter is forgotten after this long. */
const ORPHAN_ECHO_MS = 60_000;
/** NOTIFY payloads are limited to 8000 bytes; a scope that does not fit is published as its whole application. */
const MAX_PAYLOAD_BYTES = 7_000;

export function postgresChangeFeed(connectionString: string, options: string | undefined, channel: string): ChangeFeed {
  const listeners = new Listeners();
  const echoes = new Map<string, () => void>();
  let listener: pg.Client | null = null;
  let closed = false;
  let connecting: Promise<void> = Promise.resolve();
  const connect = async () => {
    const client = new pg.Client({ connectionString, ...(options ? { options } : {}) });
    client.on('notification', (message) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(message.payload ?? '');
      } catch {
        return listeners.emit(null);
      }
      if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') return listeners.emit(null);
      const [applicationId, consumerId, serviceId, echo] = parsed as [string, string | null, string | null, string];
      listeners.emit(scopeOf(applicationId, consumerId, serviceId));
      echoes.get(echo)?.();
    });
    // A lost listener means missed notifications: nothing cached can be trusted until it is back.
    client.on('error', () => {
      listener = null;
      listeners.emit(null);
      if (!closed) setTimeout(() => (connecting = connect().catch(() => undefined)), 1000).unref();
    });
    await client.connect();
    // close() may have run while this connection was being made: it must not keep the process alive.
    if (closed) {
      await client.end().catch(() => undefined);
      return;
    }
    await client.query(`LISTEN "${channel}"`);
    listener = client;
    // Whatever changed while nobody listened.
    listeners.emit(null);
  };
  connecting = connect().catch(() => undefined);

  /** Registers a waiter for `echo`; `within(ms)` resolves when it is heard or `ms` have passed, whichever is first. */
  const heard = (echo: string) => {
    let resolveHeard!: () => void;
    const arrived = new Promise<void>((resolve) => (resolveHeard = resolve));
    const forget = setTimeout(() => echoes.delete(echo), ORPHAN_ECHO_MS);
    forget.unref();
    echoes.set(echo, () => {
      clearTimeout(forget);
      echoes.delete(echo);
      resolveHeard();
    });
    return {
      within: (ms: number) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
        return Promise.race([arrived, timeout]).finally(() => clearTimeout(timer));
      },
    };
  };

  return {
    catchUp() {
      if (listener === null) listeners.emit(null);
    },
    subscribe: (listener) => listeners.add(listener),
    async publish(db, scope) {
      const echo = crypto.randomBytes(9).toString('base64url');
      let payload = JSON.stringify([scope.applicationId, scope.consumerId ?? null, scope.serviceId ?? null, echo]);
      if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) payload = JSON.stringify([scope.applicationId, null, null, echo]);
      // Waiting starts before the NOTIFY: the echo may come back before the COMMIT's own answer does.
      const echoed = listener === null ? null : heard(echo);
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
      await afterCommit(db, async () => {
        listeners.emit(scope);
        await echoed?.within(ECHO_WAIT_MS);
      });
    },
    async close() {
      closed = true;
      await connecting;
      await listener?.end().catch(() => undefined);
      listener = null;
    },
  };
}
