// `COFFER_WORKERS=2 coffer serve` on each backend: both workers serve the one port, a token refresh stays exactly
// once across them, a change made through one worker is what the next read through the other returns, each webhook
// event is delivered once, a dead worker is replaced and SIGTERM stops them all.
// Spawns the BUILT CLI (dist/cli.js): `npm run build` first when running vitest directly.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, dropSchema, postgresUrlWithSchema } from '../support/coffer.js';
import { cliChildren, runCli, serveCli, stopCli, type ServedCli } from '../support/cli.js';
import { LOCAL_PROVIDER_ENV, startProvider, tempDir, type TestProvider } from '../support/oidc.js';
import { APP_REDIRECT, burst, connect, refreshCount, resetCounts, untilStampSeen } from '../support/refresh-burst.js';
import { FAST_WEBHOOKS, startReceiver, type Receiver } from '../support/webhook-receiver.js';

type Headers = Record<string, string>;

/** One request on a connection of its own, so the primary hands it to the next worker. */
function freshRequest(url: string, method: string, headers: Headers, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(url, { method, agent: false, headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, json: text ? JSON.parse(text) : null }));
    });
    request.on('error', reject);
    request.end(payload);
  });
}

/** The pino lines a served CLI printed so far. */
function logLines(served: ServedCli): Array<Record<string, any>> {
  return served
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

/** Worker id → pid of the workers whose "listening" line is in the output. */
function listeningWorkers(served: ServedCli): Map<number, number> {
  const workers = new Map<number, number>();
  for (const line of logLines(served)) if (typeof line.worker === 'number' && /^Server listening/.test(line.msg)) workers.set(line.worker, line.pid);
  return workers;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.each(backends)('COFFER_WORKERS=2 (%s)', (backend) => {
  let provider: TestProvider;
  let receiver: Receiver;
  let connectorsDir: string;
  let dataDir: string;
  let schema: string | null = null;
  let pool: pg.Pool | null = null;
  let served: ServedCli;
  let serviceId: string;
  let headers: Headers;
  let env: Record<string, string>;

  beforeAll(async () => {
    provider = await startProvider();
    receiver = await startReceiver();
    connectorsDir = tempDir('coffer-connectors-');
    dataDir = tempDir('coffer-workers-');
    serviceId = provider.writeConnector(connectorsDir);
    env = {
      COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      COFFER_CONNECTORS_DIR: connectorsDir,
      COFFER_DATA_DIR: dataDir,
      COFFER_VERIFY_CREDENTIALS: 'false',
      ...LOCAL_PROVIDER_ENV,
      ...FAST_WEBHOOKS,
      LOG_LEVEL: 'info',
    };
    if (backend === 'postgres') {
      schema = `t_${crypto.randomBytes(6).toString('hex')}`;
      env.DATABASE_URL = postgresUrlWithSchema(process.env.TEST_DATABASE_URL!, schema);
      pool = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
    }
    const created = JSON.parse((await runCli(['app', 'create', '--json'], env)).stdout) as { application_id: string; api_key: string };
    for (const args of [
      ['connector', 'enable', serviceId, '--app', created.application_id, '--client-id', provider.clientId, '--client-secret', provider.clientSecret],
      ['app', 'set', '--app', created.application_id, '--redirect-uris', APP_REDIRECT],
    ]) {
      const result = await runCli(args, env);
      expect(result.code, result.stderr).toBe(0);
    }
    headers = { authorization: `Bearer ${created.api_key}`, 'x-apideck-app-id': created.application_id, 'x-apideck-consumer-id': 'alice' };
    served = await serveCli(['--port', '0'], { ...env, HOST: '127.0.0.1', COFFER_WORKERS: '2', COFFER_REFRESH_INTERVAL_SECONDS: '0' });
    await until('both workers listening', () => listeningWorkers(served).size === 2);
    provider.init([`${served.url}/vault/callback`]);
  });

  afterAll(async () => {
    await Promise.all([...cliChildren].map(stopCli));
    await pool?.end();
    await provider?.close();
    await receiver?.close();
    if (schema) await dropSchema(schema);
    for (const dir of [connectorsDir, dataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Which workers answered the requests logged since `from` (index into the log lines). */
  const workersSince = (from: number) => new Set(logLines(served).slice(from).filter((l) => l.msg === 'request').map((l) => l.worker));

  it('prints one banner, and both workers answer on the one port', async () => {
    expect(served.stdout().match(/Coffer is listening on/g)).toHaveLength(1);
    expect(served.stdout()).toContain('with 2 workers');
    const from = logLines(served).length;
    for (let i = 0; i < 8; i++) {
      const res = await freshRequest(`${served.url}/vault/connections`, 'GET', headers);
      expect(res.status).toBe(200);
    }
    await until('access lines of both workers', () => workersSince(from).size === 2);
  });

  /** Marks alice's token expired behind Coffer's back, and tells every worker's read model something changed. */
  async function expireAlice(): Promise<void> {
    const past = Date.now() - 1000;
    if (pool) {
      // A new updated_at too: a worker's view shows it once its read model took the change in (the notification reaches
      // each worker a few milliseconds after the commit). The primary hands new connections to the workers in turn, so
      // ten fresh reads in a row read through every worker.
      const stamp = Date.now() + 1;
      const result = await pool.query(`update "${schema}".connections set token_expires_at = $1, updated_at = $3 where consumer_id = 'alice' and service_id = $2`, [past, serviceId, stamp]);
      expect(result.rowCount).toBe(1);
      await pool.query(`select pg_notify($1, '')`, [`coffer_changes_${schema}`]);
      await untilStampSeen(async () => (await freshRequest(`${served.url}/vault/connections/crm/${serviceId}`, 'GET', headers)).json.data.updated_at, stamp, 10);
      return;
    }
    const db = new BetterSqlite3(path.join(dataDir, 'coffer.db'), { timeout: 10_000 });
    try {
      const appId = headers['x-apideck-app-id'];
      db.transaction(() => {
        expect(db.prepare(`update connections set token_expires_at = ? where consumer_id = 'alice' and service_id = ?`).run(past, serviceId).changes).toBe(1);
        db.prepare('insert into change_log (application_id, consumer_id, service_id, at) values (?, ?, ?, ?)').run(appId, 'alice', serviceId, Date.now());
      })();
    } finally {
      db.close();
    }
  }

  it('100 concurrent /credentials over both workers refresh an expired token exactly once, twice in a row', async () => {
    let token = await connect(served.url, serviceId, headers);
    for (let round = 0; round < 2; round++) {
      await expireAlice();
      resetCounts(provider);
      const from = logLines(served).length;
      const fresh = await burst([served.url], serviceId, headers, 100);
      expect(fresh).not.toBe(token);
      expect(provider.tokenRequests).toEqual({ refresh_token: 1 });
      await until('access lines of both workers', () => workersSince(from).size === 2);
      // Afterwards each worker hands out the stored token without another refresh.
      for (let i = 0; i < 6; i++) {
        const creds = await freshRequest(`${served.url}/vault/connections/crm/${serviceId}/credentials`, 'GET', headers);
        expect(creds.json.data.access_token).toBe(fresh);
      }
      expect(refreshCount(provider)).toBe(1);
      token = fresh;
    }
  });

  it('a change through one worker is what the next read through the other returns: PATCH, revoke, delete', async () => {
    const bob = { ...headers, 'x-apideck-consumer-id': 'bob' };
    const from = logLines(served).length;
    const connection = `${served.url}/vault/connections/crm/pipedrive`;
    for (let n = 1; n <= 12; n++) {
      const patched = await freshRequest(connection, 'PATCH', bob, { settings: { api_key: `key-${n}` }, metadata: { n } });
      expect(patched.status, JSON.stringify(patched.json)).toBe(200);
      // Each read on a new connection: the primary alternates workers, so about half of these go to the other one.
      const read = await freshRequest(connection, 'GET', bob);
      expect(read.json.data.metadata).toEqual({ n });
    }
    const disabled = await freshRequest(connection, 'PATCH', bob, { enabled: false });
    expect(disabled.json.data.enabled).toBe(false);
    for (let i = 0; i < 4; i++) expect((await freshRequest(connection, 'GET', bob)).json.data.enabled).toBe(false);
    expect((await freshRequest(connection, 'DELETE', bob)).status).toBe(204);
    for (let i = 0; i < 4; i++) {
      const after = await freshRequest(connection, 'GET', bob);
      expect(after.json.data.state).toBe('available');
      expect(after.json.data.metadata ?? null).toBeNull();
    }
    expect(workersSince(from).size).toBe(2);
  });

  it('each webhook event is delivered exactly once although every worker delivers', async () => {
    const appHeaders = { authorization: headers.authorization, 'x-apideck-app-id': headers['x-apideck-app-id'] };
    const subscribed = await freshRequest(`${served.url}/webhook/webhooks`, 'POST', appHeaders, {
      unified_api: 'vault',
      status: 'enabled',
      delivery_url: `${receiver.url}/workers`,
      events: ['vault.connection.created', 'vault.connection.updated'],
    });
    expect(subscribed.status, JSON.stringify(subscribed.json)).toBe(201);
    const hookPath = new URL(`${receiver.url}/workers`).pathname;
    const consumers = Array.from({ length: 10 }, (_, i) => `hook-${i}`);
    await Promise.all(
      consumers.map((consumer) =>
        freshRequest(`${served.url}/vault/connections/crm/pipedrive`, 'PATCH', { ...headers, 'x-apideck-consumer-id': consumer }, { settings: { api_key: `k-${consumer}` } }),
      ),
    );
    await until('a delivery per created connection', () => receiver.accepted().filter((d) => d.url === hookPath).length >= consumers.length);
    // Anything delivered twice would arrive within a few polls of the first.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ids = receiver.accepted().filter((d) => d.url === hookPath).map((d) => d.headers['webhook-id']);
    expect(ids).toHaveLength(consumers.length);
    expect(new Set(ids).size).toBe(consumers.length);
  });

  it('a worker that dies is replaced, and SIGTERM stops the primary and every worker', async () => {
    const before = listeningWorkers(served);
    const [victimId, victimPid] = [...before][0];
    process.kill(victimPid, 'SIGKILL');
    await until('a replacement worker listening', () => {
      const now = listeningWorkers(served);
      return now.size === 3 && [...now.keys()].some((id) => !before.has(id));
    });
    expect(logLines(served).some((l) => l.worker === 'primary' && /worker exited/.test(l.msg) && l.exited_worker === victimId)).toBe(true);
    expect(alive(victimPid)).toBe(false);
    for (let i = 0; i < 6; i++) expect((await freshRequest(`${served.url}/vault/connections`, 'GET', headers)).status).toBe(200);
    const pids = [...listeningWorkers(served)].filter(([id]) => id !== victimId).map(([, pid]) => pid);
    const exited = new Promise<number | null>((resolve) => served.child.once('exit', (code) => resolve(code)));
    served.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await until('every worker gone', () => pids.every((pid) => !alive(pid)));
    expect(served.stderr()).not.toMatch(/error/i);
  });
});

describe('COFFER_WORKERS values', () => {
  it.each(['0', '65', 'two', '1.5', '-1'])('refuses %s with one line naming the variable', async (value) => {
    const dir = tempDir('coffer-workers-bad-');
    try {
      const result = await runCli(['serve', '--port', '0'], { COFFER_DATA_DIR: dir, COFFER_WORKERS: value, HOST: '127.0.0.1' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^coffer: COFFER_WORKERS must be a whole number from 1 to 64, or auto/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
