// Tells a process when another process changed tenant configuration (API keys, enabled connectors), so in-memory
// caches of it can be dropped. SQLite: `PRAGMA data_version` moves when another connection commits. PostgreSQL:
// LISTEN/NOTIFY on a channel per schema.
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';

export interface ChangeFeed {
  /** True when another process may have changed tenant configuration since the previous call. */
  poll(): boolean;
  /** Tells the other processes that tenant configuration changed. */
  announce(db: Kysely<any>): Promise<void>;
  close(): Promise<void>;
}

/** Reading data_version costs a look at the WAL index; once per few milliseconds bounds how stale a cache can be. */
const SQLITE_POLL_INTERVAL_MS = 5;

export function sqliteChangeFeed(database: BetterSqlite3.Database): ChangeFeed {
  const statement = database.prepare('PRAGMA data_version').pluck();
  let seen = statement.get();
  let polledAt = 0;
  return {
    poll() {
      const at = Date.now();
      if (at - polledAt < SQLITE_POLL_INTERVAL_MS) return false;
      polledAt = at;
      const now = statement.get();
      if (now === seen) return false;
      seen = now;
      return true;
    },
    async announce() {
      // Other SQLite connections see the commit itself through data_version.
    },
    async close() {},
  };
}

export function postgresChangeFeed(connectionString: string, options: string | undefined, channel: string): ChangeFeed {
  let changed = false;
  let listener: pg.Client | null = null;
  let closed = false;
  let connecting: Promise<void> = Promise.resolve();
  const connect = async () => {
    const client = new pg.Client({ connectionString, ...(options ? { options } : {}) });
    client.on('notification', () => {
      changed = true;
    });
    // A lost listener means missed notifications: count everything as changed until it is back.
    client.on('error', () => {
      changed = true;
      listener = null;
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
  };
  connecting = connect().catch(() => {
    changed = true;
  });
  return {
    poll() {
      if (listener === null) return true;
      const was = changed;
      changed = false;
      return was;
    },
    async announce(db) {
      await sql`select pg_notify(${channel}, '')`.execute(db);
    },
    async close() {
      closed = true;
      await connecting;
      await listener?.end().catch(() => undefined);
      listener = null;
    },
  };
}
