// Exactly-once token refresh under load: two `coffer serve` processes on one PostgreSQL database (a refresh lease +
// re-read + compare-and-swap), one in-process Coffer per backend (single-flight), the background refresher, and
// tokens whose expiry is unknown (refreshed only when a caller reports the token as rejected).
// Spawns the BUILT CLI (dist/cli.js): `npm run build` first when running vitest directly.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { resolveIntegration } from '../../src/vault/integrations.js';
import { backends, dropSchema, editConnections, postgresUrlWithSchema, startCoffer, type TestCoffer } from '../support/coffer.js';
import { followRedirects, LOCAL_PROVIDER_ENV, startProvider, tempDir, type TestProvider } from '../support/oidc.js';
import { cliChildren, runCli, serveCli, stopCli } from '../support/cli.js';
import { APP_REDIRECT, BURST, burst, connect, refreshCount, resetCounts, untilStampSeen } from '../support/refresh-burst.js';

type Headers = Record<string, string>;

// ---------------------------------------------------------------------------------------------------------------
// 1. Two `coffer serve` processes on one PostgreSQL schema.
// ---------------------------------------------------------------------------------------------------------------

const clusterBackends = backends.filter((b) => b === 'postgres');

it('the PostgreSQL cluster suite runs exactly when TEST_DATABASE_URL is set (never skipped silently)', () => {
  expect(clusterBackends.length).toBe(process.env.TEST_DATABASE_URL ? 1 : 0);
  if (clusterBackends.length === 0) {
    // The global setup prints the loud banner; this names what did not run.
    process.stderr.write('cluster.test.ts: TEST_DATABASE_URL is unset, so the two-process PostgreSQL refresh test DID NOT RUN\n');
  }
});

const children = cliChildren;

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const { code, stdout, stderr } = await runCli(args, env);
  expect(code, `coffer ${args.join(' ')}: ${stderr}`).toBe(0);
  return stdout;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const serve = (port: number, env: Record<string, string>) => serveCli(['--port', String(port)], env);
const stop = stopCli;

describe.each(clusterBackends)('exactly-once refresh across two coffer serve processes (%s)', () => {
  let provider: TestProvider;
  let connectorsDir: string;
  let dataDir: string;
  let schema: string;
  let pool: pg.Pool;
  let instances: string[] = [];
  let serviceId: string;
  let headers: Headers;

  beforeAll(async () => {
    provider = await startProvider();
    connectorsDir = tempDir('coffer-connectors-');
    dataDir = tempDir('coffer-cluster-');
    serviceId = provider.writeConnector(connectorsDir);
    schema = `t_${crypto.randomBytes(6).toString('hex')}`;
    pool = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
    const env = {
      DATABASE_URL: postgresUrlWithSchema(process.env.TEST_DATABASE_URL!, schema),
      COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      COFFER_CONNECTORS_DIR: connectorsDir,
      ...LOCAL_PROVIDER_ENV,
      COFFER_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    const created = JSON.parse(await cli(['app', 'create', '--json'], env)) as { application_id: string; api_key: string };
    await Promise.all([
      cli(['connector', 'enable', serviceId, '--app', created.application_id, '--client-id', provider.clientId, '--client-secret', provider.clientSecret], env),
      cli(['app', 'set', '--app', created.application_id, '--redirect-uris', APP_REDIRECT], env),
    ]);
    headers = { authorization: `Bearer ${created.api_key}`, 'x-apideck-app-id': created.application_id, 'x-apideck-consumer-id': 'alice' };

    const ports = [await freePort(), await freePort()];
    instances = ports.map((port) => `http://127.0.0.1:${port}`);
    const serveEnv = { ...env, HOST: '127.0.0.1', COFFER_PUBLIC_URL: instances[0], COFFER_REFRESH_INTERVAL_SECONDS: '0' };
    await Promise.all(ports.map((port) => serve(port, serveEnv)));
    provider.init([`${instances[0]}/vault/callback`]);
  });

  afterAll(async () => {
    await Promise.all([...children].map(stop));
    await pool?.end();
    await provider?.close();
    if (schema) await dropSchema(schema);
    for (const dir of [connectorsDir, dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function expireAlice(): Promise<number> {
    const past = Date.now() - 1000;
    // A new updated_at too: the instances' views show it once their read models took the change in.
    const stamp = Date.now() + 1;
    const result = await pool.query(`update "${schema}".connections set token_expires_at = $1, updated_at = $3 where consumer_id = 'alice' and service_id = $2`, [past, serviceId, stamp]);
    expect(result.rowCount).toBe(1);
    // Written behind Coffer's back: tell the instances' read models that anything may have changed (an empty payload).
    await pool.query(`select pg_notify($1, '')`, [`coffer_changes_${schema}`]);
    for (const base of instances) {
      await untilStampSeen(async () => (await (await fetch(`${base}/vault/connections/crm/${serviceId}`, { headers })).json()).data.updated_at, stamp);
    }
    return past;
  }

  async function storedExpiry(): Promise<number | null> {
    const { rows } = await pool.query(`select token_expires_at from "${schema}".connections where consumer_id = 'alice' and service_id = $1`, [serviceId]);
    return rows[0].token_expires_at === null ? null : Number(rows[0].token_expires_at);
  }

  it(`${BURST} concurrent /credentials over both instances refresh an expired token exactly once, twice in a row`, async () => {
    let token = await connect(instances[0], serviceId, headers);
    // Both instances serve the same connection before anything expires, with no refresh.
    for (const base of instances) {
      const creds = await (await fetch(`${base}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
      expect(creds.data.access_token).toBe(token);
    }
    expect(refreshCount(provider)).toBe(0);

    const rounds: number[] = [];
    for (let round = 0; round < 2; round++) {
      const past = await expireAlice();
      resetCounts(provider);
      const fresh = await burst(instances, serviceId, headers);
      rounds.push(refreshCount(provider));
      expect(fresh).not.toBe(token);
      expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
      expect(await storedExpiry()).toBeGreaterThan(past + 3000_000);
      // Afterwards both instances hand out the stored token without another refresh.
      for (const base of instances) {
        const creds = await (await fetch(`${base}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
        expect(creds.data.access_token).toBe(fresh);
      }
      expect(refreshCount(provider)).toBe(1);
      token = fresh;
    }
    expect(rounds).toEqual([1, 1]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2 and 4. One in-process Coffer per backend.
// ---------------------------------------------------------------------------------------------------------------

async function setupCoffer(backend: 'sqlite' | 'postgres', env: Record<string, string>) {
  const provider = await startProvider();
  const dir = tempDir('coffer-connectors-');
  const serviceId = provider.writeConnector(dir);
  const coffer = await startCoffer(backend, { ...env, COFFER_CONNECTORS_DIR: dir, ...LOCAL_PROVIDER_ENV });
  provider.init([`${coffer.url}/vault/callback`]);
  await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, serviceId, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
  await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  return { provider, serviceId, dir, coffer };
}

async function setExpiry(coffer: TestCoffer, consumerId: string, serviceId: string, expiresAt: number | null): Promise<void> {
  expect(await editConnections(coffer, { token_expires_at: expiresAt }, { consumerId, serviceId })).toBe(1);
}

async function storedRow(coffer: TestCoffer, consumerId: string, serviceId: string) {
  return coffer.runtime.ctx.db
    .selectFrom('connections')
    .select(['token_expires_at', 'auth_status', 'version'])
    .where('application_id', '=', coffer.appId)
    .where('consumer_id', '=', consumerId)
    .where('service_id', '=', serviceId)
    .executeTakeFirstOrThrow();
}

describe.each(backends)('exactly-once refresh in one process (%s)', (backend) => {
  let provider: TestProvider;
  let coffer: TestCoffer;
  let serviceId: string;
  let dir: string;

  beforeAll(async () => {
    ({ provider, coffer, serviceId, dir } = await setupCoffer(backend, { COFFER_REFRESH_INTERVAL_SECONDS: '0' }));
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${BURST} concurrent /credentials on one instance refresh an expired token exactly once`, async () => {
    const headers = coffer.headers('alice');
    const token = await connect(coffer.url, serviceId, headers);
    const past = Date.now() - 1000;
    await setExpiry(coffer, 'alice', serviceId, past);
    resetCounts(provider);
    const before = coffer.server.refresher.refreshes;
    const fresh = await burst([coffer.url], serviceId, headers);
    expect(fresh).not.toBe(token);
    expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
    expect(coffer.server.refresher.refreshes - before).toBe(1);
    expect((await storedRow(coffer, 'alice', serviceId)).token_expires_at).toBeGreaterThan(past + 3000_000);
  });

  it('a token of unknown expiry is refreshed only when a caller reports it rejected, once for 20 concurrent reports', async () => {
    const headers = coffer.headers('carol');
    const token = await connect(coffer.url, serviceId, headers);
    await setExpiry(coffer, 'carol', serviceId, null);
    resetCounts(provider);
    const before = coffer.server.refresher.refreshes;

    // Unknown expiry: /credentials hands the stored token out as it is.
    const creds = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
    expect(creds.data.access_token).toBe(token);
    expect(creds.data.expires_at).toBeNull();
    expect(creds.data.expires_in).toBeNull();
    expect(refreshCount(provider)).toBe(0);
    expect(coffer.server.refresher.refreshes).toBe(before);

    // A proxy saw the provider refuse the token: 20 concurrent reports, one refresh.
    const scope = { applicationId: coffer.appId, consumerId: 'carol' };
    const integration = await resolveIntegration(coffer.runtime.ctx, coffer.appId, 'crm', serviceId);
    const records = await Promise.all(
      Array.from({ length: 20 }, () => coffer.server.refresher.refresh(scope, integration, 'crm', { rejectedAccessToken: token })),
    );
    const fresh = new Set(records.map((r) => r.credentials!.access_token));
    expect(fresh.size).toBe(1);
    const [newToken] = fresh;
    expect(newToken).not.toBe(token);
    expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
    expect(coffer.server.refresher.refreshes - before).toBe(1);

    // A late report of the old token (no longer stored) does not refresh again.
    const late = await coffer.server.refresher.refresh(scope, integration, 'crm', { rejectedAccessToken: token });
    expect(late.credentials!.access_token).toBe(newToken);
    expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
    expect(coffer.server.refresher.refreshes - before).toBe(1);
    const after = await (await fetch(`${coffer.url}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
    expect(after.data.access_token).toBe(newToken);
    expect(refreshCount(provider)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. The background refresher (SQLite).
// ---------------------------------------------------------------------------------------------------------------

describe('background refresher (sqlite)', () => {
  let provider: TestProvider;
  let coffer: TestCoffer;
  let serviceId: string;
  let dir: string;

  beforeAll(async () => {
    ({ provider, coffer, serviceId, dir } = await setupCoffer('sqlite', { COFFER_REFRESH_INTERVAL_SECONDS: '1', COFFER_REFRESH_MARGIN_SECONDS: '300' }));
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refreshes a token about to expire without any API call, and leaves an invalid connection alone', async () => {
    await connect(coffer.url, serviceId, coffer.headers('alice'));
    await connect(coffer.url, serviceId, coffer.headers('bob'));
    // bob's refresh token was refused earlier: invalid until the consumer authorizes again.
    await editConnections(coffer, { auth_status: 'invalid', auth_error: 'invalid_grant' }, { consumerId: 'bob' });
    resetCounts(provider);
    const before = coffer.server.refresher.refreshes;
    const soon = Date.now() + 60_000;
    await setExpiry(coffer, 'bob', serviceId, soon);
    const bobBefore = await storedRow(coffer, 'bob', serviceId);
    await setExpiry(coffer, 'alice', serviceId, soon);

    const deadline = Date.now() + 3_500;
    while (refreshCount(provider) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(refreshCount(provider)).toBe(1);
    // Let the write land, then give the refresher another tick or two to (wrongly) pick anything up again.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
    expect(coffer.server.refresher.refreshes - before).toBe(1);
    expect((await storedRow(coffer, 'alice', serviceId)).token_expires_at).toBeGreaterThan(soon + 3000_000);
    expect(await storedRow(coffer, 'bob', serviceId)).toEqual(bobBefore);
  });
});
