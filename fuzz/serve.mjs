// The Coffer under fuzz, in its own process (a hang or crash must not take the fuzzer down), started with
// `node --import fuzz/no-internet.mjs` so it cannot reach the internet.
//
//   FUZZ_BACKEND=sqlite|postgres   SQLite in a temp dir, or a fresh schema `fuzz_<random>` of FUZZ_PG_URL (dropped on exit)
//   FUZZ_STUB_URL=http://127.0.0.1:…   the provider stub: API base of the `fuzz-proxy` (api key) and `fuzz-oauth`
//                                      (OAuth 2) connectors, their token endpoint, and where Flows Vault OAuth goes
//
// Creates applications A and B (the only thing without an HTTP API) and a Management API token for each, then prints
// one JSON line on stdout: {"ready":true,"url":…,"apps":[{appId,apiKey,managementToken},…],…}. Everything else the
// fuzzer sets up itself, through HTTP. Exits (cleaning up) on SIGTERM/SIGINT or when stdin closes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../dist/config.js';
import pino from 'pino';
import { createLogger, openRuntime } from '../dist/runtime.js';
import { startServer } from '../dist/server.js';
import { createApplication } from '../dist/vault/applications.js';
import { dropSchema, stopWith } from '../scripts/child-server.mjs';
import { FLOWS_SCOPES, issueManagementToken } from '../dist/flows/management-token.js';

const backend = process.env.FUZZ_BACKEND ?? 'sqlite';
if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`FUZZ_BACKEND must be sqlite or postgres, got "${backend}"`);
const pgBase = process.env.FUZZ_PG_URL ?? '';
if (backend === 'postgres' && !pgBase) throw new Error('FUZZ_PG_URL is required for FUZZ_BACKEND=postgres');
const stubUrl = process.env.FUZZ_STUB_URL;
if (!stubUrl) throw new Error('FUZZ_STUB_URL is required');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-fuzz-'));
const connectorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-fuzz-connectors-'));
const schema = backend === 'postgres' ? `fuzz_${crypto.randomBytes(6).toString('hex')}` : null;
let runtime = null;
let server = null;

const shutdown = stopWith('fuzz/serve', () => [
  ['server close', () => server?.close()],
  ['store close', () => runtime?.close()],
  ['drop schema', () => dropSchema(pgBase, schema)],
  ['remove data dir', () => fs.rmSync(dataDir, { recursive: true, force: true })],
  ['remove connectors dir', () => connectorsDir && fs.rmSync(connectorsDir, { recursive: true, force: true })],
]);

function writeConnectors() {
  const proxy = [
    'id: fuzz-proxy',
    'name: Fuzz proxy API',
    'website: https://fuzz-proxy.example',
    'unified_apis: [crm]',
    'auth_type: apiKey',
    'form_fields:',
    '  - { id: api_key, label: API key, type: password, required: true, sensitive: true }',
    '  - { id: region, label: Region, type: text }',
    'proxy:',
    `  base_url: ${stubUrl}/v1`,
    '  auth: { type: bearer, value: "{api_key}" }',
  ];
  const oauth = [
    'id: fuzz-oauth',
    'name: Fuzz OAuth API',
    'website: https://fuzz-oauth.example',
    'unified_apis: [crm, ats]',
    'auth_type: oauth2',
    'oauth:',
    '  grant_type: authorization_code',
    `  authorization_url: ${stubUrl}/authorize`,
    `  token_url: ${stubUrl}/token`,
    '  scopes: [api]',
    'form_fields:',
    '  - { id: workspace, label: Workspace, type: text }',
    'proxy:',
    `  base_url: ${stubUrl}/v1`,
    '  auth: { type: bearer, value: "{access_token}" }',
  ];
  fs.writeFileSync(path.join(connectorsDir, 'fuzz-proxy.yaml'), proxy.join('\n') + '\n');
  fs.writeFileSync(path.join(connectorsDir, 'fuzz-oauth.yaml'), oauth.join('\n') + '\n');
}

try {
  writeConnectors();
  let databaseUrl = null;
  if (schema) {
    const url = new URL(pgBase);
    url.searchParams.set('schema', schema);
    databaseUrl = url.toString();
  }
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    COFFER_DATA_DIR: dataDir,
    COFFER_CONNECTORS_DIR: connectorsDir,
    COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    COFFER_VERIFY_CREDENTIALS: 'false',
    // Loopback is where the stub is: proxy calls, token endpoints and webhooks may go there, over plain http.
    COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
    COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
    COFFER_ALLOW_PRIVATE_WEBHOOKS: 'true',
    COFFER_WEBHOOK_POLL_MS: '200',
    COFFER_WEBHOOK_BACKOFF_MS: '100',
    COFFER_WEBHOOK_BACKOFF_MAX_MS: '1000',
    COFFER_WEBHOOK_TIMEOUT_MS: '3000',
    COFFER_FLOWS_AUTH0_TOKEN_URL: `${stubUrl}/token`,
    // Well below the fuzzer's 10 s hang limit: a provider that never answers must get Coffer's 504, not a hang.
    COFFER_PROXY_TIMEOUT_MS: '3000',
    // The fuzzer sends thousands of deliberate 401s from one address: counted, never limited (else most answers are 429).
    COFFER_AUTH_FAILURE_LIMIT_PER_IP: '0',
    COFFER_AUTH_FAILURE_LIMIT_PER_APP: '0',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  runtime = await openRuntime(config);
  // Errors and warnings go to stderr, where the fuzzer reads them: anything logged as an error is a finding.
  server = await startServer(runtime, createLogger('warn', pino.destination(2)), { port: 0, host: '127.0.0.1' });
  const apps = [];
  for (const name of ['Fuzz application A', 'Fuzz application B']) {
    const app = await createApplication(runtime.ctx, { name });
    const token = await issueManagementToken(runtime.ctx, app.application_id, [...FLOWS_SCOPES]);
    apps.push({ appId: app.application_id, apiKey: app.api_key, managementToken: token.access_token });
  }
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, backend, url: server.url, apps, schema }) + '\n');
} catch (error) {
  process.stderr.write(`[fuzz/serve] start-up failed: ${error?.stack ?? error}\n`);
  await shutdown(1);
}
