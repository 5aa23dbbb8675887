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
  /** PostgreSQL schema from `?schema=`, created on migrate. */
  schema?: string | null;
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
  // search_path is a start-up parameter, so every pooled connection has it before its first query.
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const safe = new URL(url);
  safe.password = '';
  return {
    db,
    dialect: 'postgres',
    schema,
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
  if (store.schema) {
    try {
      await sql`create schema if not exists ${sql.id(store.schema)}`.execute(store.db);
    } catch (error) {
      // Two instances starting together may race on the catalog; the schema exists either way.
      if ((error as { code?: string }).code !== '23505') throw error;
    }
  }
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
