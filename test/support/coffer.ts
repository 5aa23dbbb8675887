// Starts a real Coffer (HTTP on 127.0.0.1, a real SQLite file or a fresh PostgreSQL schema) for a test file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UpdateObject } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { createLogger, openRuntime, type Runtime } from '../../src/runtime.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createApplication } from '../../src/vault/applications.js';
import type { Database } from '../../src/store/schema.js';

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL when TEST_DATABASE_URL is set (CI sets it). */
export const backends: Backend[] = process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestCoffer {
  backend: Backend;
  url: string;
  appId: string;
  apiKey: string;
  dataDir: string;
  /** Set for PostgreSQL: the URL (with `?schema=`) this instance uses. */
  databaseUrl: string | null;
  schema: string | null;
  masterKey: string;
  runtime: Runtime;
  server: RunningServer;
  /** Headers for raw HTTP calls with the first application's key. */
  headers(consumerId?: string): Record<string, string>;
  createApp(options?: { enableConnectors?: boolean }): Promise<{ application_id: string; api_key: string }>;
  close(): Promise<void>;
}

export function postgresUrlWithSchema(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  return url.toString();
}

export async function startCoffer(backend: Backend, env: Record<string, string> = {}): Promise<TestCoffer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-test-'));
  const schema = backend === 'postgres' ? `t_${crypto.randomBytes(6).toString('hex')}` : null;
  const databaseUrl = schema ? postgresUrlWithSchema(process.env.TEST_DATABASE_URL!, schema) : null;
  const masterKey = crypto.randomBytes(32).toString('base64');
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    COFFER_DATA_DIR: dataDir,
    COFFER_MASTER_KEY: masterKey,
    LOG_LEVEL: 'silent',
    // Built-in connectors verify credentials against the vendors' real APIs: tests that want verification point a
    // connector at a local upstream and turn it back on.
    COFFER_VERIFY_CREDENTIALS: 'false',
    // Suites send hundreds of deliberate 401s from 127.0.0.1: counted, never limited. rate-limit.test.ts sets its own.
    COFFER_AUTH_FAILURE_LIMIT_PER_IP: '1000000',
    COFFER_AUTH_FAILURE_LIMIT_PER_APP: '1000000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const runtime = await openRuntime(config);
  const server = await startServer(runtime, createLogger('silent'), { port: 0, host: '127.0.0.1' });
  const first = await createApplication(runtime.ctx, { name: 'Test application' });
  return {
    backend,
    url: server.url,
    appId: first.application_id,
    apiKey: first.api_key,
    dataDir,
    databaseUrl,
    schema,
    masterKey,
    runtime,
    server,
    headers: (consumerId?: string) => ({
      authorization: `Bearer ${first.api_key}`,
      'x-apideck-app-id': first.application_id,
      ...(consumerId ? { 'x-apideck-consumer-id': consumerId } : {}),
    }),
    createApp: (options = {}) => createApplication(runtime.ctx, { enableConnectors: options.enableConnectors }),
    async close() {
      await server.close();
      await runtime.close();
      if (schema) await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Changes connection rows behind the API's back (how a test makes time pass or a provider refuse), then tells every
 * process's read model, as each of Coffer's own writes does. Returns how many rows changed.
 */
export async function editConnections(
  coffer: Pick<TestCoffer, 'runtime' | 'appId'>,
  set: UpdateObject<Database, 'connections'>,
  where: { consumerId?: string; serviceId?: string } = {},
): Promise<number> {
  const { db, changes } = coffer.runtime.ctx;
  let query = db.updateTable('connections').set(set).where('application_id', '=', coffer.appId);
  if (where.consumerId !== undefined) query = query.where('consumer_id', '=', where.consumerId);
  if (where.serviceId !== undefined) query = query.where('service_id', '=', where.serviceId);
  const result = await query.executeTakeFirst();
  await changes.publish(db, { applicationId: coffer.appId, ...where });
  return Number(result.numUpdatedRows);
}
