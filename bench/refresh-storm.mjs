// Refresh-storm scenario for `npm run bench` (PostgreSQL only): 1 000 concurrent calls on an expired token, spread
// evenly over 2 Coffer instances sharing one database. Coffer must ask the provider for a new token exactly once
// (single-flight per process + a refresh lease on the row and a re-read across processes) and hand every caller the same token.
//
// Set-up, all real: a panva oidc-provider in this process (interactions approved by a handler, token requests counted
// by grant type), a connector YAML for it in a temp dir, a fresh schema `bench_storm_<random>`, and two
// `node dist/cli.js serve --port N` children (same master key, connectors dir and COFFER_PUBLIC_URL = instance 1).
// One consumer is connected through the real authorization-code flow; its token is then expired in the database and
// 1 000 `GET /vault/connections/crm/<id>/credentials` are issued at once (500 per instance).
// The working reference for this set-up is test/oauth/cluster.test.ts (its support code is test/support/oidc.ts).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dropSchema, freePort } from '../scripts/child-server.mjs';
import { stopChild } from './stop-child.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'dist', 'cli.js');
const APP_REDIRECT = 'https://app.example/done';
const CONSUMER = 'storm';
export const STORM_CALLS = 1000;
export const STORM_INSTANCES = 2;
const REQUEST_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------------
// The OAuth provider (the .mjs equivalent of test/support/oidc.ts, minus what the storm does not use).

async function startProvider(redirectUris) {
  const clientId = 'coffer-bench-client';
  const clientSecret = `coffer-bench-secret-${crypto.randomBytes(8).toString('hex')}`;
  const tokenRequests = {};
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  // Imported here, not at the top: only the storm needs it, and it prints start-up warnings on import.
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    scopes: ['openid', 'offline_access', 'api'],
    clientBasedCORS: () => true,
    issueRefreshToken: async () => true,
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    pkce: { required: () => false },
    ttl: { AccessToken: 3600, AuthorizationCode: 60, RefreshToken: 14 * 86400, Grant: 14 * 86400, Interaction: 600, Session: 86400 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
  });
  const count = (ctx) => {
    const key = String(ctx.oidc?.params?.grant_type ?? 'unknown');
    tokenRequests[key] = (tokenRequests[key] ?? 0) + 1;
  };
  provider.on('grant.success', count);
  provider.on('grant.error', count);
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      try {
        await approve(provider, req, res);
      } catch (error) {
        res.statusCode = 500;
        res.end(String(error));
      }
      return;
    }
    callback(req, res);
  });

  return {
    issuer,
    clientId,
    clientSecret,
    /** Token requests the provider answered, by grant type (successful or not). */
    tokenRequests,
    resetCounts() {
      for (const key of Object.keys(tokenRequests)) delete tokenRequests[key];
    },
    /** Writes a connector file pointing at this provider into `dir`; returns its service id. */
    writeConnector(dir, id = 'bench-oidc') {
      const lines = [
        `id: ${id}`,
        `name: Bench OIDC (${id})`,
        'website: https://provider.example',
        'unified_apis: [crm]',
        'auth_type: oauth2',
        'oauth:',
        '  grant_type: authorization_code',
        `  authorization_url: ${issuer}/auth`,
        '  pkce: true',
        `  token_url: ${issuer}/token`,
        `  revocation_url: ${issuer}/token/revocation`,
        `  issuer: ${issuer}`,
        '  scopes: [api]',
        'form_fields:',
        '  - { id: workspace, label: Workspace, type: text }',
      ];
      fs.writeFileSync(path.join(dir, `${id}.yaml`), lines.join('\n') + '\n');
      return id;
    },
    async close() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Logs in `bench-user` and grants every scope asked for. */
async function approve(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'bench-user' } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missingScope = prompt.details.missingOIDCScope;
  if (missingScope) grant.addOIDCScope(missingScope.join(' '));
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** A browser stand-in: follows redirects with a cookie jar until `stop(url)` says the target is reached. */
async function followRedirects(start, stop, maxHops = 20) {
  const jar = new Map();
  const hops = [];
  let url = new URL(start);
  for (let hop = 0; hop < maxHops; hop++) {
    hops.push(url.toString());
    if (stop(url)) return { url, status: 0, body: '', hops };
    const cookies = jar.get(url.host);
    const res = await fetch(url, {
      redirect: 'manual',
      headers: cookies?.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const hostJar = jar.get(url.host) ?? new Map();
      hostJar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      jar.set(url.host, hostJar);
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return { url, status: res.status, body: await res.text(), hops };
    await res.arrayBuffer();
    url = new URL(location, url);
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Coffer children (`node dist/cli.js …`).

/** The parent's environment without anything that configures Coffer, plus `env`. */
function cleanEnv(env) {
  const out = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('COFFER_') || ['DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'NODE_OPTIONS'].includes(key)) continue;
    out[key] = value;
  }
  return { ...out, ...env };
}

const CLI_TIMEOUT_MS = 60_000;
const CLI_EXIT_GRACE_MS = 5_000;

/**
 * `node dist/cli.js …args --json`; resolves with the parsed JSON it printed.
 *
 * A PostgreSQL one-shot command can print its result and then never exit: the store's change feed opens its LISTEN
 * connection in the background (src/store/change-feed.ts) and, when the command closes the store before that
 * connection is up, the connection is made afterwards and keeps the process alive. The command prints only after its
 * work is done (and only on success), so a complete JSON line on stdout followed by no exit within
 * CLI_EXIT_GRACE_MS counts as success: the process is killed and a note goes to stderr.
 */
function cli(args, env, register) {
  const label = `coffer ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--json'], { env: cleanEnv(env), cwd: os.tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
    child.benchName = label;
    register?.(child);
    let out = '';
    let err = '';
    let parsed;
    let graceTimer = null;
    let settled = false;
    const finish = (error, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(graceTimer);
      clearTimeout(deadline);
      if (error) reject(error);
      else resolve(value);
    };
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`${label} neither finished nor printed a result within ${CLI_TIMEOUT_MS / 1000} s: ${err || out}`));
    }, CLI_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      if (parsed !== undefined || !out.endsWith('\n')) return;
      try {
        parsed = JSON.parse(out);
      } catch {
        return;
      }
      graceTimer = setTimeout(() => {
        process.stderr.write(
          `[bench] note: \`${label}\` printed its result but did not exit within ${CLI_EXIT_GRACE_MS / 1000} s ` +
            '(a LISTEN connection of the PostgreSQL change feed opened after the store was closed?); killing it\n',
        );
        child.kill('SIGKILL');
        finish(null, parsed);
      }, CLI_EXIT_GRACE_MS);
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (error) => finish(error));
    child.on('close', (code, signal) => {
      if (code === 0 && parsed !== undefined) finish(null, parsed);
      else finish(new Error(`${label} exited with ${code ?? signal}: ${err || out}`));
    });
  });
}


/**
 * `coffer serve --port N`; resolves once its banner is complete. stdin is a pipe so bench/run.mjs's stopChild (which
 * ends stdin, then sends SIGTERM) works on it; after start-up its output goes to stderr prefixed with `name`.
 */
function serve(name, port, env, register) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { env: cleanEnv(env), cwd: os.tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
  child.benchName = name;
  register?.(child);
  const started = new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`${name}: coffer serve did not start within 30 s:\n${output}`)), 30_000);
    function fail(error) {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      reject(error);
    }
    const onData = (d) => {
      if (ready) {
        for (const line of String(d).split('\n')) if (line) process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      output += d;
      if (/Coffer is listening on /.test(output) && /API reference: \S+\n/.test(output)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${name}: coffer serve exited with ${code ?? signal}:\n${output}`)));
  });
  return { child, started };
}

const stop = stopChild;

// ---------------------------------------------------------------------------------------------------------------
// The storm.

async function getJson(url, headers) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 500)}`);
  return body;
}

/** Connects the consumer with the real authorization-code flow through `baseUrl`; returns its first access token. */
async function connect(baseUrl, serviceId, headers) {
  const base = `${baseUrl}/vault/connections/crm/${serviceId}`;
  const before = await getJson(base, headers);
  if (before?.data?.state !== 'available') throw new Error(`connection state before authorizing is ${JSON.stringify(before?.data?.state)}, not "available"`);
  const authorizeUrl = `${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`;
  const result = await followRedirects(authorizeUrl, (url) => url.origin === 'https://app.example');
  if (result.url.toString() !== APP_REDIRECT) {
    throw new Error(`the authorization flow ended at ${result.url} (status ${result.status}), not ${APP_REDIRECT}: ${result.body.slice(0, 500)}`);
  }
  const after = await getJson(base, headers);
  if (after?.data?.state !== 'callable') throw new Error(`connection state after authorizing is ${JSON.stringify(after?.data?.state)}, not "callable"`);
  const creds = await getJson(`${base}/credentials`, headers);
  if (typeof creds?.data?.access_token !== 'string') throw new Error(`no access_token in ${JSON.stringify(creds).slice(0, 500)}`);
  return creds.data.access_token;
}

/** One GET on a dedicated agent; never rejects (network errors and timeouts come back as `error`). */
function timedGet(agent, url, headers) {
  return new Promise((resolve) => {
    const start = performance.now();
    let settled = false;
    const done = (outcome) => {
      if (settled) return;
      settled = true;
      resolve({ ...outcome, ms: performance.now() - start });
    };
    const req = http.request(url, { agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let token = null;
        try {
          token = JSON.parse(text)?.data?.access_token ?? null;
        } catch {
          // not JSON: reported as an error below through the status or the missing token
        }
        done({ status: res.statusCode, token, body: res.statusCode === 200 ? undefined : text.slice(0, 300) });
      });
      res.on('error', (error) => done({ status: null, error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (error) => done({ status: null, error: `${error.code ?? ''} ${error.message}`.trim() }));
    req.end();
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

const round1 = (n) => (n === null ? null : Math.round(n * 10) / 10);

/**
 * Runs the scenario against PostgreSQL at `pgUrl`. `register(child)` hands each Coffer child to the caller's
 * last-resort cleanup. Resolves with the result (`failed` and `failures` say whether it met its bar); throws when the
 * set-up itself fails. Children, provider, schema and temp dirs are cleaned up either way.
 */
export async function runRefreshStorm({ pgUrl, register, onCleanup, log = (line) => process.stderr.write(`[bench] ${line}\n`) }) {
  const schema = `bench_storm_${crypto.randomBytes(6).toString('hex')}`;
  const connectorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-storm-connectors-'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-storm-data-'));
  const children = [];
  const agents = [];
  let provider = null;
  let pool = null;
  let cleaning = null;
  // Memoised: runs from `finally`, or earlier from the caller's signal handler (through `onCleanup`).
  const cleanup = () =>
    (cleaning ??= (async () => {
      const step = async (name, fn) => {
        try {
          await fn();
        } catch (error) {
          process.stderr.write(`[bench] refresh storm clean-up: ${name} failed: ${error?.stack ?? error}\n`);
        }
      };
      for (const agent of agents) agent.destroy();
      await step('stop Coffer instances', () => Promise.all(children.map(stop)));
      await step('close the provider', () => provider?.close());
      await step('close the pool', () => pool?.end());
      await step(`drop schema ${schema}`, () => dropSchema(pgUrl, schema));
      await step('remove temp dirs', () => {
        for (const dir of [connectorsDir, dataDir]) fs.rmSync(dir, { recursive: true, force: true });
      });
    })());
  const unregister = onCleanup?.(cleanup);
  try {
    const ports = [];
    for (let i = 0; i < STORM_INSTANCES; i++) ports.push(await freePort());
    const instances = ports.map((port) => `http://127.0.0.1:${port}`);
    provider = await startProvider([`${instances[0]}/vault/callback`]);
    const serviceId = provider.writeConnector(connectorsDir);

    const dbUrl = new URL(pgUrl);
    dbUrl.searchParams.set('schema', schema);
    const env = {
      DATABASE_URL: dbUrl.toString(),
      COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      COFFER_CONNECTORS_DIR: connectorsDir,
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    log(`refresh storm: schema ${schema}, provider ${provider.issuer}, instances ${instances.join(' ')}`);
    const created = await cli(['app', 'create'], env, register);
    await cli(['connector', 'enable', serviceId, '--app', created.application_id, '--client-id', provider.clientId, '--client-secret', provider.clientSecret], env, register);
    await cli(['app', 'set', '--app', created.application_id, '--redirect-uris', APP_REDIRECT], env, register);
    const headers = { authorization: `Bearer ${created.api_key}`, 'x-apideck-app-id': created.application_id, 'x-apideck-consumer-id': CONSUMER };

    const serveEnv = { ...env, HOST: '127.0.0.1', COFFER_PUBLIC_URL: instances[0], COFFER_REFRESH_INTERVAL_SECONDS: '0' };
    const started = ports.map((port, i) => serve(`storm-coffer-${i + 1}`, port, serveEnv, register));
    children.push(...started.map((s) => s.child));
    await Promise.all(started.map((s) => s.started));

    const oldToken = await connect(instances[0], serviceId, headers);
    for (const base of instances) {
      const creds = await getJson(`${base}/vault/connections/crm/${serviceId}/credentials`, headers);
      if (creds?.data?.access_token !== oldToken) throw new Error(`${base} hands out a different token than instance 1 before the storm`);
    }

    pool = new pg.Pool({ connectionString: pgUrl, max: 1 });
    const expiredAt = Date.now() - 1000;
    // A new updated_at too: each instance's view shows it once its read model took the change in.
    const stamp = Date.now() + 1;
    const update = await pool.query(`update "${schema}".connections set token_expires_at = $1, updated_at = $4 where consumer_id = $2 and service_id = $3`, [
      expiredAt,
      CONSUMER,
      serviceId,
      stamp,
    ]);
    if (update.rowCount !== 1) throw new Error(`expiring the token updated ${update.rowCount} rows, not 1`);
    // Written behind Coffer's back: the instances' read models hear of it only through the change feed (an empty
    // payload: anything may have changed), a few milliseconds later; the storm starts once both show it.
    await pool.query(`select pg_notify($1, '')`, [`coffer_changes_${schema}`]);
    for (const base of instances) {
      const deadline = Date.now() + 10_000;
      while ((await getJson(`${base}/vault/connections/crm/${serviceId}`, headers))?.data?.updated_at !== stamp) {
        if (Date.now() > deadline) throw new Error(`${base} did not see the expired token within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    provider.resetCounts();

    // One agent per instance, no socket cap: every request gets its own connection, all issued in the same tick.
    for (let i = 0; i < instances.length; i++) agents.push(new http.Agent({ keepAlive: false, maxSockets: Infinity }));
    log(`refresh storm: ${STORM_CALLS} concurrent GET …/credentials over ${instances.length} instances…`);
    const wallStart = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: STORM_CALLS }, (_, i) => {
        const which = i % instances.length;
        return timedGet(agents[which], `${instances[which]}/vault/connections/crm/${serviceId}/credentials`, headers).then((o) => ({ ...o, instance: which + 1 }));
      }),
    );
    const wallMs = performance.now() - wallStart;
    const tokenRequests = { ...provider.tokenRequests };

    const { rows } = await pool.query(`select token_expires_at from "${schema}".connections where consumer_id = $1 and service_id = $2`, [CONSUMER, serviceId]);
    const storedExpiresAt = rows[0]?.token_expires_at == null ? null : Number(rows[0].token_expires_at);

    for (const o of outcomes) o.failed = o.status !== 200 || typeof o.token !== 'string';
    const failedCalls = outcomes.filter((o) => o.failed);
    const okCalls = outcomes.filter((o) => !o.failed);
    const tokens = new Set(okCalls.map((o) => o.token));
    const latencies = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const refreshes = tokenRequests.refresh_token ?? 0;
    const totalTokenRequests = Object.values(tokenRequests).reduce((a, b) => a + b, 0);
    const byInstance = {};
    for (const o of outcomes) {
      const entry = (byInstance[o.instance] ??= { calls: 0, errors: 0 });
      entry.calls++;
      if (o.failed) entry.errors++;
    }
    const errorSamples = [];
    for (const o of failedCalls) {
      const what = o.error ?? `status ${o.status}${o.body ? `: ${o.body}` : ' without an access_token'}`;
      if (!errorSamples.includes(what) && errorSamples.length < 5) errorSamples.push(what);
    }

    const failures = [];
    if (refreshes !== 1) failures.push(`the provider saw ${refreshes} refreshes, not 1`);
    if (totalTokenRequests !== refreshes) failures.push(`the provider saw other token requests too: ${JSON.stringify(tokenRequests)}`);
    if (failedCalls.length > 0) failures.push(`${failedCalls.length} of ${STORM_CALLS} calls failed (${errorSamples.join(' | ')})`);
    if (tokens.size !== 1) failures.push(`${tokens.size} distinct access tokens were returned, not 1`);
    if (tokens.has(oldToken)) failures.push('the expired access token was handed out');

    return {
      scenario: `refresh storm: ${STORM_CALLS} concurrent GET …/credentials on an expired token`,
      backend: 'postgres',
      instances: instances.length,
      calls: STORM_CALLS,
      callsPerInstance: byInstance,
      refreshes,
      tokenRequests,
      errors: failedCalls.length,
      errorSamples,
      distinctTokens: tokens.size,
      tokenRotated: tokens.size === 1 && !tokens.has(oldToken),
      storedExpiresInS: storedExpiresAt === null ? null : Math.round((storedExpiresAt - Date.now()) / 1000),
      latencyP50Ms: round1(percentile(latencies, 50)),
      latencyP99Ms: round1(percentile(latencies, 99)),
      latencyMaxMs: round1(latencies.at(-1) ?? null),
      wallMs: round1(wallMs),
      failed: failures.length > 0,
      failures,
    };
  } finally {
    await cleanup();
    unregister?.();
  }
}

export function printStormTable(r) {
  const columns = ['scenario', 'instances', 'calls', 'refreshes (provider)', 'errors', 'distinct tokens', 'p50 ms', 'p99 ms', 'max ms', 'wall ms', 'result'];
  const cells = [
    [
      `refresh storm (${r.backend})`,
      String(r.instances),
      String(r.calls),
      String(r.refreshes),
      String(r.errors),
      String(r.distinctTokens),
      r.latencyP50Ms.toFixed(1),
      r.latencyP99Ms.toFixed(1),
      r.latencyMaxMs.toFixed(1),
      r.wallMs.toFixed(0),
      r.failed ? 'FAILED' : 'OK',
    ],
  ];
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}
