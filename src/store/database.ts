import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type Selectable, type Transaction } from 'kysely';
import { REQUEST_LOG_COLUMNS, type ConnectionsTable, type Database } from './schema.js';
import { SqliteLogAppender } from './sqlite-log-appender.js';
import { migrationProvider } from './migrations.js';
import { postgresChangeFeed, sqliteChangeFeed, type ChangeFeed } from './change-feed.js';

export type Dialect = 'sqlite' | 'postgres';

/** What repository functions run on: the database, or the transaction of a unit of work. */
export type Executor = Kysely<Database> | Transaction<Database>;

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** PostgreSQL schema from `?schema=`, created on migrate. */
  schema?: string | null;
  changes: ChangeFeed;
  /**
   * SQLite only: the connection row of (application, consumer, service), read synchronously on a read-only connection
   * of its own: committed data only, never a write in flight on the main connection. What the read model loads.
   */
  readConnectionRow?: (applicationId: string, consumerId: string, serviceId: string) => Selectable<ConnectionsTable> | undefined;
  /** Where the data lives, without credentials, for start-up messages. */
  description: string;
  close(): Promise<void>;
}

/** How long a query may wait for one of PostgreSQL's pooled connections. */
const POOL_WAIT_MS = 10_000;

/**
 * The database was there but too busy to take the query in time: every pooled PostgreSQL connection stayed in use
 * for POOL_WAIT_MS, or SQLite's write lock stayed with another process past its busy timeout. Retrying later works.
 */
export function isStoreBusy(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
  return typeof message === 'string' && /^timeout exceeded when trying to connect/.test(message);
}

// PostgreSQL SQLSTATE classes that say the server cannot take work now, whatever the rows: connection exception,
// insufficient resources (disk full, too many connections), operator intervention (shutdown), system error (I/O);
// and a read-only server (a standby), a serialization failure or a deadlock.
const PG_UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];
const PG_UNAVAILABLE_CODES = ['25006', '40001', '40P01'];
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|NOMEM|PROTOCOL|CORRUPT|NOTADB)/;

/**
 * Whether a write failed because the database could not take any write just then (down, unreachable, out of
 * connections, locked, disk full), so the same rows can be written later; otherwise it was something in the rows.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return SQLITE_UNAVAILABLE.test(code);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return PG_UNAVAILABLE_CLASSES.includes(code.slice(0, 2)) || PG_UNAVAILABLE_CODES.includes(code);
  // No SQLSTATE: the socket failed (ECONNREFUSED, ECONNRESET, …), the pool gave up waiting, or the connection ended.
  const { message } = (error ?? {}) as { message?: unknown };
  return (typeof code === 'string' && /^E[A-Z]+$/.test(code)) || isStoreBusy(error) || (typeof message === 'string' && /^Connection terminated/.test(message));
}

export interface StoreOptions {
  dataDir: string;
  databaseUrl: string | null;
}

// BIGINT (epoch ms, counters) comes back from pg as a string by default; every value we store fits a double.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * `DATABASE_URL=postgres://…` selects PostgreSQL; a `schema` query parameter (Coffer's own) puts every table in that
 * schema, which is how tests and side-by-side installs share one database.
 */
function openPostgres(databaseUrl: string): Store {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema');
  url.searchParams.delete('schema');
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`DATABASE_URL schema "${schema}" must be a lower-case SQL identifier (a-z, 0-9, _)`);
  // search_path is a start-up parameter, so every pooled connection has it before its first query.
  // json/jsonb come back as text, as from SQLite, so `readJson` parses both alike (parsed values were ambiguous for a
  // top-level JSON string such as consent resources "*", which readJson then parsed a second time).
  const asText = (v: string) => v;
  const types = {
    getTypeParser: ((oid: number, format?: 'text') => (oid === 114 || oid === 3802 ? asText : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
  };
  const options = schema ? `-c search_path=${schema}` : undefined;
  // No request waits for a pooled connection for ever: after POOL_WAIT_MS it is answered 503 (see isStoreBusy).
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10, connectionTimeoutMillis: POOL_WAIT_MS, types, ...(options ? { options } : {}) });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const changes = postgresChangeFeed(url.toString(), options, `coffer_changes_${schema ?? 'public'}`);
  const safe = new URL(url);
  safe.password = '';
  return {
    db,
    dialect: 'postgres',
    schema,
    changes,
    description: `PostgreSQL ${safe.host}${safe.pathname}${schema ? ` (schema ${schema})` : ''}`,
    close: async () => {
      await changes.close();
      await db.destroy();
    },
  };
}

/** The request-log appender of a SQLite store's kysely instance (request logs are written off the event loop). */
const sqliteLogAppenders = new WeakMap<object, SqliteLogAppender>();

export function sqliteLogAppenderOf(db: Executor): SqliteLogAppender | undefined {
  return sqliteLogAppenders.get(db);
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every statement anew; preparing costs more than running our small indexed queries, and the same
 * SQL text comes back on every request, so prepared statements are kept (better-sqlite3 statements are reusable).
 */
function withStatementCache(database: BetterSqlite3.Database): BetterSqlite3.Database {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = database.prepare.bind(database);
  return new Proxy(database, {
    get(target, property) {
      if (property === 'prepare') {
        return (source: string) => {
          let statement = cache.get(source);
          if (!statement) {
            statement = prepare(source);
            if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
            cache.set(source, statement);
          }
          return statement;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Units of work take SQLite's write lock when they begin. A deferred `begin` reads at a snapshot and fails at once
 * (SQLITE_BUSY_SNAPSHOT, no busy wait) when another connection — the request-log writer, another process — commits
 * before its first write; `begin immediate` waits for the lock under the busy timeout instead.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/**
 * synchronous=FULL: a rotated refresh token that is lost on power failure leaves a connection that can never refresh
 * again, so every commit reaches the disk. Request logs are written in batches, so the cost stays off the hot path.
 */
function openSqlite(dataDir: string): Store {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'coffer.db');
  // Created owner-only before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }) });
  const logAppender = new SqliteLogAppender(file, REQUEST_LOG_COLUMNS);
  sqliteLogAppenders.set(db, logAppender);
  // Opened on first use: the tables exist only once migrations ran.
  let readOnly: BetterSqlite3.Database | null = null;
  const reader = () => {
    if (!readOnly) {
      readOnly = new BetterSqlite3(file, { readonly: true });
      readOnly.pragma('busy_timeout = 5000');
    }
    return readOnly;
  };
  let connectionRow: BetterSqlite3.Statement<[string, string, string], Selectable<ConnectionsTable>> | null = null;
  const readConnectionRow = (applicationId: string, consumerId: string, serviceId: string) => {
    connectionRow ??= reader().prepare('select * from connections where application_id = ? and consumer_id = ? and service_id = ?');
    return connectionRow.get(applicationId, consumerId, serviceId);
  };
  const changes = sqliteChangeFeed(reader, database);
  return {
    db,
    dialect: 'sqlite',
    changes,
    readConnectionRow,
    description: `SQLite ${file}`,
    async close() {
      await changes.close();
      await logAppender.close();
      readOnly?.close();
      await db.destroy();
    },
  };
}

export function openStore(options: StoreOptions): Store {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openSqlite(options.dataDir);
}

export async function migrate(store: Store): Promise<string[]> {
  if (store.schema) {
    try {
      await sql`create schema if not exists ${sql.id(store.schema)}`.execute(store.db);
    } catch (error) {
      // Two instances starting together may race on the catalog; the schema exists either way.
      if ((error as { code?: string }).code !== '23505') throw error;
    }
  }
  // With a schema, kysely must look for its own tables there: unqualified, it finds another schema's (a concurrent
  // instance's) kysely_migration_lock, skips creating its own and fails with 'relation does not exist'.
  const migrator = new Migrator({
    db: store.db,
    provider: migrationProvider(store.dialect),
    ...(store.dialect === 'postgres' ? { migrationTableSchema: store.schema ?? 'public' } : {}),
  });
  // SQLite has no migration lock across processes: one migrating a fresh file while another does fails ("table …
  // already exists", or busy); the next pass sees what the other committed.
  let outcome = await migrator.migrateToLatest();
  for (let attempt = 1; outcome.error && store.dialect === 'sqlite' && attempt < 5; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    outcome = await migrator.migrateToLatest();
  }
  const { error, results } = outcome;
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Readiness probe: one trivial query. */
export async function ping(store: Store): Promise<void> {
  await sql`select 1`.execute(store.db);
}

/** JSON columns come back as text from both backends (see openPostgres); an already parsed value is passed through. */
export function readJson<T>(value: unknown, fallback: T): T {
  if (value === null || value === undefined) return fallback;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
