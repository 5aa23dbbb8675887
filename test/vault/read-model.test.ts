// The read model of connections (store/connection-cache.ts) across instances: two Coffers on one database, each with
// its own cache. Whatever one of them changes, the next read through the other shows, on both backends; a warm read
// touches no table; and one tenant's cached record never answers another tenant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, openRuntime, type Runtime } from '../../src/runtime.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { backends, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope } from '../support/envelope.js';
import { LOCAL_PROVIDER_ENV } from '../support/oidc.js';
import { api, APP_REDIRECT, authorize, credentials, fetchManual, getConnection, refreshCount, startHarness, withParams, type Harness } from '../support/oauth-harness.js';

/** A second instance on the first one's database (same data dir or schema, same master key), with its own caches. */
async function secondInstance(first: TestCoffer, env: Record<string, string>): Promise<{ coffer: TestCoffer; close(): Promise<void> }> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    COFFER_DATA_DIR: first.dataDir,
    COFFER_MASTER_KEY: first.masterKey,
    LOG_LEVEL: 'silent',
    COFFER_VERIFY_CREDENTIALS: 'false',
    COFFER_REFRESH_INTERVAL_SECONDS: '0',
    ...(first.databaseUrl ? { DATABASE_URL: first.databaseUrl } : {}),
    ...env,
  });
  const runtime: Runtime = await openRuntime(config);
  const server: RunningServer = await startServer(runtime, createLogger('silent'), { port: 0, host: '127.0.0.1' });
  return {
    coffer: { ...first, url: server.url, runtime, server },
    async close() {
      await server.close();
      await runtime.close();
    },
  };
}

/**
 * What an instance reads while `work` runs: SQL statements other than request-log writes (those are batched, after the
 * answers), and read-model misses (on SQLite a miss reads the row on a connection of its own, outside kysely).
 */
async function readsDuring(runtime: Runtime, work: () => Promise<unknown>): Promise<{ statements: string[]; misses: number }> {
  const executor = runtime.ctx.db.getExecutor() as unknown as { executeQuery: (query: { sql: string }, ...rest: unknown[]) => Promise<unknown> };
  const original = executor.executeQuery;
  const statements: string[] = [];
  executor.executeQuery = function (this: unknown, query, ...rest) {
    if (!/insert into "request_logs"/.test(query.sql)) statements.push(query.sql);
    return original.call(this, query, ...rest);
  };
  const missesBefore = runtime.ctx.connections.cache.misses;
  try {
    await work();
  } finally {
    executor.executeQuery = original;
  }
  return { statements, misses: runtime.ctx.connections.cache.misses - missesBefore };
}

describe.each(backends)('read model across instances (%s)', (backend) => {
  let h: Harness;
  let svc: string;
  let a: TestCoffer;
  let b: TestCoffer;
  let closeB: () => Promise<void>;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'cache-oidc' }]);
    svc = h.services['cache-oidc'];
    a = h.coffer;
    const dir = a.runtime.config.connectorsDir!;
    const second = await secondInstance(a, { COFFER_CONNECTORS_DIR: dir, ...LOCAL_PROVIDER_ENV });
    b = second.coffer;
    closeB = second.close;
  });
  afterAll(async () => {
    await closeB?.();
    await h?.close();
  });

  it('a warm read of a connection and of its credentials touches no table', async () => {
    const consumer = 'warm';
    await authorize(h, consumer, svc);
    await credentials(b, consumer, 'crm', svc);
    await getConnection(b, consumer, 'crm', svc);
    const reads = await readsDuring(b.runtime, async () => {
      for (let i = 0; i < 5; i++) {
        expect((await credentials(b, consumer, 'crm', svc)).status).toBe(200);
        expect((await getConnection(b, consumer, 'crm', svc)).state).toBe('callable');
      }
    });
    expect(reads).toEqual({ statements: [], misses: 0 });
  });

  it('a refresh through one instance hands the new token to the next read through the other, without a second refresh', async () => {
    const consumer = 'refreshed';
    await authorize(h, consumer, svc);
    const before = (await credentials(b, consumer, 'crm', svc)).body.data.access_token;
    const refreshes = refreshCount(h.provider);
    const validated = await api(a, consumer, 'POST', `/vault/connections/crm/${svc}/validate`, {});
    expect(validated.status, validated.text).toBe(200);
    expect(refreshCount(h.provider)).toBe(refreshes + 1);
    const newest = h.grants[h.grants.length - 1].accessToken;
    expect(newest).not.toBe(before);
    expect((await credentials(b, consumer, 'crm', svc)).body.data.access_token).toBe(newest);
    expect(refreshCount(h.provider)).toBe(refreshes + 1);
  });

  it('a PATCH, a custom mapping and a consent through one instance show on the next read through the other', async () => {
    const consumer = 'patched';
    await authorize(h, consumer, svc);
    expect((await getConnection(b, consumer, 'crm', svc)).metadata).toBeNull();
    for (let round = 1; round <= 5; round++) {
      const patched = await api(a, consumer, 'PATCH', `/vault/connections/crm/${svc}`, { metadata: { round } });
      expect(patched.status, patched.text).toBe(200);
      expect((await getConnection(b, consumer, 'crm', svc)).metadata).toEqual({ round });
    }
    const disabled = await api(a, consumer, 'PATCH', `/vault/connections/crm/${svc}`, { enabled: false });
    expect(disabled.status, disabled.text).toBe(200);
    expect((await getConnection(b, consumer, 'crm', svc)).enabled).toBe(false);

    const mapping = await api(a, consumer, 'POST', `/vault/custom-mappings/crm/${svc}/crm+contacts+first_name`, { value: '$.given_name' });
    expect(mapping.status, mapping.text).toBeLessThan(300);
    const mapped = await getConnection(b, consumer, 'crm', svc);
    expect(mapped.custom_mappings.map((m: { id: string; value: string }) => [m.id, m.value])).toEqual([['crm+contacts+first_name', '$.given_name']]);
    const removed = await api(a, consumer, 'DELETE', `/vault/custom-mappings/crm/${svc}/crm+contacts+first_name`);
    expect(removed.status, removed.text).toBeLessThan(300);
    expect((await getConnection(b, consumer, 'crm', svc)).custom_mappings).toEqual([]);

    const consent = await api(a, consumer, 'PATCH', `/vault/connections/crm/${svc}`, { latest_consent: { granted: false } });
    expect(consent.status, consent.text).toBe(200);
    const denied = await getConnection(b, consumer, 'crm', svc);
    expect(denied.consent_state).toBe('denied');
    expect(denied.consents).toHaveLength(1);
  });

  it('a revoke through one instance: the other hands out no token', async () => {
    const consumer = 'revoked';
    await authorize(h, consumer, svc);
    expect((await credentials(b, consumer, 'crm', svc)).status).toBe(200);
    const conn = await getConnection(a, consumer, 'crm', svc);
    const res = await fetchManual(withParams(conn.revoke_url, { redirect_uri: APP_REDIRECT }));
    expect(res.status, await res.text()).toBe(301);
    const refused = await fetch(`${b.url}/vault/connections/crm/${svc}/credentials`, { headers: b.headers(consumer) });
    await expectErrorEnvelope(refused, 422, 'InvalidStateError');
    expect((await getConnection(b, consumer, 'crm', svc)).health).toBe('revoked');
  });

  it('a delete of the connection, then of the consumer, through one instance: gone through the other', async () => {
    const consumer = 'deleted';
    await authorize(h, consumer, svc);
    expect((await credentials(b, consumer, 'crm', svc)).status).toBe(200);
    expect((await api(a, consumer, 'DELETE', `/vault/connections/crm/${svc}`)).status).toBe(204);
    await expectErrorEnvelope(await fetch(`${b.url}/vault/connections/crm/${svc}/credentials`, { headers: b.headers(consumer) }), 404, 'EntityNotFoundError');
    expect((await getConnection(b, consumer, 'crm', svc)).state).toBe('available');

    await authorize(h, consumer, svc);
    expect((await credentials(b, consumer, 'crm', svc)).status).toBe(200);
    const gone = await api(a, consumer, 'DELETE', `/vault/consumers/${consumer}`);
    expect(gone.status, gone.text).toBe(200);
    await expectErrorEnvelope(await fetch(`${b.url}/vault/connections/crm/${svc}/credentials`, { headers: b.headers(consumer) }), 404, 'EntityNotFoundError');
  });

  it("never answers one tenant with another's record: same consumer and connector in two applications", async () => {
    const other = await a.createApp();
    const ctx = a.runtime.ctx;
    const { setConnectorEnabled } = await import('../../src/vault/applications.js');
    await setConnectorEnabled(ctx, other.application_id, svc, true, { clientId: h.provider.clientId, clientSecret: h.provider.clientSecret });
    const consumer = 'shared-name';
    const headersOf = (appId: string, key: string) => ({ authorization: `Bearer ${key}`, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': consumer, 'content-type': 'application/json' });
    const mine = headersOf(a.appId, a.apiKey);
    const theirs = headersOf(other.application_id, other.api_key);
    await authorize(h, consumer, svc);
    const created = await fetch(`${a.url}/vault/connections/crm/${svc}`, { method: 'PATCH', headers: mine, body: JSON.stringify({ metadata: { tenant: 'first' } }) });
    expect(created.status, await created.text()).toBe(200);
    for (const instance of [a, b, a, b]) {
      const first = await (await fetch(`${instance.url}/vault/connections/crm/${svc}`, { headers: mine })).json();
      const second = await (await fetch(`${instance.url}/vault/connections/crm/${svc}`, { headers: theirs })).json();
      expect(first.data.metadata).toEqual({ tenant: 'first' });
      expect(first.data.state).toBe('callable');
      expect(second.data.state).toBe('available');
      expect(second.data.metadata).toBeNull();
      const theirCredentials = await fetch(`${instance.url}/vault/connections/crm/${svc}/credentials`, { headers: theirs });
      await expectErrorEnvelope(theirCredentials, 404, 'EntityNotFoundError');
    }
  });
});
