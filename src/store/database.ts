import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where the data lives, without credentials, for start-up messages. */
  description: string;
  close(): Promise<void>;
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
  if (schema && !/^[a-z_][a-z0-9_]*$/i.test(schema)) throw new Error(`DATABASE_URL schema "${schema}" must be a plain SQL identifier`);
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10 });
  if (schema) {
    pool.on('connect', (client) => {
      // pg runs a client's queries in order, so these precede whatever the pool hands the client out for.
      client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`).catch(() => undefined);
      client.query(`SET search_path TO "${schema}"`).catch(() => undefined);
    });
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const safe = new URL(url);
  safe.password = '';
  return {
    db,
    dialect: 'postgres',
    description: `PostgreSQL ${safe.host}${safe.pathname}${schema ? ` (schema ${schema})` : ''}`,
    close: () => db.destroy(),
  };
}

/**
 * synchronous=FULL: a rotated refresh token that is lost on power failure leaves a connection that can never refresh
 * again, so every commit reaches the disk. Request logs are written in batches, so the cost stays off the hot path.
 */
function openSqlite(dataDir: string): Store {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'coffer.db');
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, dialect: 'sqlite', description: `SQLite ${file}`, close: () => db.destroy() };
}

export function openStore(options: StoreOptions): Store {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openSqlite(options.dataDir);
}

export async function migrate(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider(store.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Readiness probe: one trivial query. */
export async function ping(store: Store): Promise<void> {
  await sql`select 1`.execute(store.db);
}

/** JSON columns are strings in SQLite and parsed values in PostgreSQL. */
export function readJson<T>(value: unknown, fallback: T): T {
  if (value === null || value === undefined) return fallback;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
