// One Coffer for the benchmark, in its own process (the load generator must not share its event loop).
//
//   BENCH_BACKEND=sqlite                      → SQLite in a fresh temp data dir
//   BENCH_BACKEND=postgres BENCH_PG_URL=…     → a fresh schema `bench_<random>` in that database (dropped on exit)
//   BENCH_UPSTREAM_URL=http://127.0.0.1:…     → also a `bench-proxy` connector whose API is that upstream (loopback
//                                               and plain http allowed), connected for consumer `bench` with the key
//                                               BENCH_UPSTREAM_TOKEN (the proxy scenario)
//
// Starts on 127.0.0.1:0 with a silent logger, creates an application, stores a Pipedrive api-key connection and
// imports a Salesforce OAuth connection (a token valid for a day) for consumer `bench` through the HTTP API, then prints one JSON line on stdout:
//   {"ready":true,"url":…,"appId":…,"apiKey":…,"consumerId":"bench","backend":…,"schema":…}
// Exits (cleaning up the data dir / schema) on SIGTERM/SIGINT or when stdin closes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../dist/config.js';
import { createLogger, openRuntime } from '../dist/runtime.js';
import { startServer } from '../dist/server.js';
import { createApplication } from '../dist/vault/applications.js';
import { dropSchema, stopWith } from '../scripts/child-server.mjs';

const backend = process.env.BENCH_BACKEND ?? 'sqlite';
if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`BENCH_BACKEND must be sqlite or postgres, got "${backend}"`);
const pgBase = process.env.BENCH_PG_URL ?? '';
if (backend === 'postgres' && !pgBase) throw new Error('BENCH_PG_URL is required for BENCH_BACKEND=postgres');

const CONSUMER = 'bench';
const upstreamUrl = process.env.BENCH_UPSTREAM_URL ?? '';
const upstreamToken = process.env.BENCH_UPSTREAM_TOKEN ?? 'bench-upstream-token';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-'));
const schema = backend === 'postgres' ? `bench_${crypto.randomBytes(6).toString('hex')}` : null;

let runtime = null;
let connectorsDir = null;
let server = null;

/**
 * Guard for builds whose `migrate()` (src/store/database.ts) creates its Kysely Migrator without
 * `migrationTableSchema` (commit 4e3a707 and earlier): Kysely then decides whether `kysely_migration(_lock)` exist by
 * looking for those table names in ANY schema of the database, so while another Coffer (e.g. a concurrent `npm test`
 * on TEST_DATABASE_URL, schema `t_…`) has them, ours are never created and start-up fails with
 * `relation "kysely_migration_lock" does not exist`. Creating the two bookkeeping tables (Kysely's own DDL) in our
 * fresh schema first makes that check true for the right reason; with a fixed build it is a no-op. The migrations
 * themselves run unchanged either way.
 */
async function prepareSchema() {
  const client = new pg.Client({ connectionString: pgBase });
  await client.connect();
  try {
    const others = await client.query(
      `select distinct table_schema from information_schema.tables where table_name in ('kysely_migration', 'kysely_migration_lock')`,
    );
    if (others.rowCount) {
      const list = others.rows.map((r) => r.table_schema).join(', ');
      process.stderr.write(`[serve-coffer] note: other schemas hold Kysely migration tables (${list}); pre-creating ours in ${schema}\n`);
    }
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE "${schema}".kysely_migration (name varchar(255) NOT NULL PRIMARY KEY, timestamp varchar(255) NOT NULL)`);
    await client.query(`CREATE TABLE "${schema}".kysely_migration_lock (id varchar(255) NOT NULL PRIMARY KEY, is_locked integer NOT NULL DEFAULT 0)`);
  } finally {
    await client.end();
  }
}

const shutdown = stopWith('serve-coffer', () => [
  ['server close', () => server?.close()],
  ['store close', () => runtime?.close()],
  ['drop schema', () => dropSchema(pgBase, schema)],
  // BENCH_KEEP_DATA=1: the caller starts a server on it afterwards (cold start) and removes it itself.
  ['remove data dir', () => process.env.BENCH_KEEP_DATA !== '1' && fs.rmSync(dataDir, { recursive: true, force: true })],
  ['remove connectors dir', () => connectorsDir && fs.rmSync(connectorsDir, { recursive: true, force: true })],
]);

try {
  let databaseUrl = null;
  if (schema) {
    const url = new URL(pgBase);
    url.searchParams.set('schema', schema);
    databaseUrl = url.toString();
    await prepareSchema();
  }
  const proxyEnv = {};
  if (upstreamUrl) {
    connectorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-connectors-'));
    fs.writeFileSync(
      path.join(connectorsDir, 'bench-proxy.yaml'),
      [
        'id: bench-proxy',
        'name: Bench proxy API',
        'website: https://bench-proxy.example',
        'unified_apis: [crm]',
        'auth_type: apiKey',
        'form_fields:',
        '  - { id: api_key, label: API key, type: password, required: true, sensitive: true }',
        'proxy:',
        `  base_url: ${upstreamUrl}/v1`,
        '  auth: { type: bearer, value: "{api_key}" }',
      ].join('\n') + '\n',
    );
    Object.assign(proxyEnv, { COFFER_CONNECTORS_DIR: connectorsDir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true' });
  }
  const config = loadConfig({
    ...proxyEnv,
    PORT: '0',
    HOST: '127.0.0.1',
    COFFER_DATA_DIR: dataDir,
    COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    COFFER_VERIFY_CREDENTIALS: 'false',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  runtime = await openRuntime(config);
  server = await startServer(runtime, createLogger('silent'), { port: 0, host: '127.0.0.1' });
  const app = await createApplication(runtime.ctx, { name: 'Benchmark application' });

  const headers = {
    authorization: `Bearer ${app.api_key}`,
    'x-apideck-app-id': app.application_id,
    'x-apideck-consumer-id': CONSUMER,
    'content-type': 'application/json',
  };
  const res = await fetch(`${server.url}/vault/connections/crm/pipedrive`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ settings: { api_key: 'bench-pipedrive-token' } }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`storing the pipedrive connection answered ${res.status}: ${body}`);
  const state = JSON.parse(body)?.data?.state;
  if (state !== 'callable') throw new Error(`the stored pipedrive connection is "${state}", not "callable": ${body}`);

  // An OAuth connection whose token outlives the run: `…/credentials` hands it out without a refresh.
  const imported = await fetch(`${server.url}/vault/connections/crm/salesforce/import`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      credentials: { access_token: 'bench-salesforce-access', refresh_token: 'bench-salesforce-refresh', expires_in: 86_400 },
      settings: { instance_url: 'https://bench.my.salesforce.com' },
    }),
  });
  if (imported.status !== 200) throw new Error(`importing the salesforce connection answered ${imported.status}: ${await imported.text()}`);

  if (upstreamUrl) {
    const stored = await fetch(`${server.url}/vault/connections/crm/bench-proxy`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ settings: { api_key: upstreamToken } }),
    });
    const text = await stored.text();
    if (stored.status !== 200) throw new Error(`storing the bench-proxy connection answered ${stored.status}: ${text}`);
  }

  // The scale scenario (bench/scale.mjs): a large population besides the `bench` consumer.
  const seedCount = Number(process.env.BENCH_SEED_CONNECTIONS ?? 0);
  const seeded = seedCount > 0 ? await (await import('./seed-scale.mjs')).seedScale(runtime, app.application_id, seedCount) : null;

  process.stdout.write(
    JSON.stringify({
      ready: true,
      seeded,
      dataDir,
      masterKey: config.masterKey,
      pid: process.pid,
      backend,
      url: server.url,
      appId: app.application_id,
      apiKey: app.api_key,
      consumerId: CONSUMER,
      proxyServiceId: upstreamUrl ? 'bench-proxy' : null,
      schema,
      store: runtime.store.description ?? null,
    }) + '\n',
  );
} catch (error) {
  process.stderr.write(`[serve-coffer] start-up failed: ${error?.stack ?? error}\n`);
  await shutdown(1);
}
