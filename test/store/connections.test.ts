// The connection unit of work: a PATCH opens a row's secrets once, and a write another process makes meanwhile is
// kept, never overwritten.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, openRuntime, type Runtime } from '../../src/runtime.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { sealedSettings } from '../../src/vault/connection-mutation.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';

const ZENDESK = '/vault/connections/customer-support/zendesk';
const API_KEY = 'zd-secret-key-123';

describe.each(backends)('connection unit of work (%s)', (backend) => {
  let coffer: TestCoffer;
  /** A second instance on the same storage: its caches are cold, as after a restart or on another machine. */
  let other: { runtime: Runtime; server: RunningServer };

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    const runtime = await openRuntime(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        COFFER_DATA_DIR: coffer.dataDir,
        COFFER_MASTER_KEY: coffer.masterKey,
        LOG_LEVEL: 'silent',
        COFFER_VERIFY_CREDENTIALS: 'false',
        COFFER_AUTH_FAILURE_LIMIT_PER_IP: '1000000',
        ...(coffer.databaseUrl ? { DATABASE_URL: coffer.databaseUrl } : {}),
      }),
    );
    other = { runtime, server: await startServer(runtime, createLogger('silent'), { port: 0, host: '127.0.0.1' }) };
  });
  afterAll(async () => {
    await other?.server.close();
    await other?.runtime.close();
    await coffer?.close();
  });

  const send = (base: string, method: string, body?: unknown) =>
    fetch(`${base}${ZENDESK}`, {
      method,
      headers: { ...coffer.headers('uow-consumer'), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('a PATCH of a connection opens its sealed settings once', async () => {
    const created = await send(coffer.url, 'PATCH', { settings: { subdomain: 'acme', email: 'a@acme.example', api_key: API_KEY } });
    expect(created.status, await created.text()).toBe(200);

    const opens = vi.spyOn(other.runtime.ctx.keyring, 'open');
    try {
      const patched = await send(other.server.url, 'PATCH', { settings: { email: 'b@acme.example' }, metadata: { plan: 'pro' } });
      const body = await patched.json();
      expect(patched.status, JSON.stringify(body)).toBe(200);
      expect(body.data.settings.email).toBe('b@acme.example');
      expect(body.data.metadata).toEqual({ plan: 'pro' });
      expect(opens.mock.calls.filter(([ctx]) => ctx.field === 'settings')).toHaveLength(1);
    } finally {
      opens.mockRestore();
    }
    // What was written is whole: the sealed key survived the partial PATCH.
    const stored = await coffer.runtime.ctx.connections.find({ applicationId: coffer.appId, consumerId: 'uow-consumer', serviceId: 'zendesk' });
    expect(stored!.settings).toEqual({ subdomain: 'acme', email: 'b@acme.example', api_key: API_KEY });
  });
});

// SQLite only: a second writer process is a second SQLite connection on the same file. A unit of work holds SQLite's
// write lock from its start (`begin immediate`), as PostgreSQL's row lock does, so the other writer waits for it.
describe('connection unit of work across processes (sqlite)', () => {
  let coffer: TestCoffer;

  beforeAll(async () => {
    coffer = await startCoffer('sqlite');
  });
  afterAll(async () => {
    await coffer?.close();
  });

  it('a write another process makes while a unit of work is open waits for it, and both changes are kept', async () => {
    const created = await fetch(`${coffer.url}${ZENDESK}`, {
      method: 'PATCH',
      headers: { ...coffer.headers('uow-consumer'), 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { subdomain: 'acme', email: 'a@acme.example', api_key: API_KEY } }),
    });
    expect(created.status, await created.text()).toBe(200);
    const { ctx } = coffer.runtime;
    const key = { applicationId: coffer.appId, consumerId: 'uow-consumer', serviceId: 'zendesk' };
    const def = ctx.catalogue.get('zendesk')!;
    // Another process's connection (on a thread of its own, so its wait for the lock does not stop this one) changes
    // the connection the moment this unit has read it.
    const elsewhere = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const db = new (require(workerData.driver))(workerData.file, { timeout: 10000 });
       parentPort.once('message', () => {
         try {
           const changed = db.prepare("update connections set metadata = ?, version = version + 1 where application_id = ? and service_id = 'zendesk'")
             .run(JSON.stringify({ plan: 'enterprise' }), workerData.appId).changes;
           parentPort.postMessage({ changed });
         } catch (error) {
           parentPort.postMessage({ error: String(error) });
         } finally {
           db.close();
         }
       });`,
      { eval: true, workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: path.join(coffer.dataDir, 'coffer.db'), appId: coffer.appId } },
    );
    const written = new Promise<{ changed?: number; error?: string }>((resolve) => elsewhere.once('message', resolve));
    let attempts = 0;
    try {
      const result = await ctx.connections.update(
        key,
        async (draft) => {
          attempts += 1;
          elsewhere.postMessage('write');
          // Long enough for the other writer to be waiting on the lock when this unit commits.
          await new Promise((resolve) => setTimeout(resolve, 50));
          draft.enabled = false;
        },
        { sealedSettings: sealedSettings(def) },
      );
      expect(attempts).toBe(1);
      expect(result!.record.enabled).toBe(false);
      expect(await written).toEqual({ changed: 1 });
    } finally {
      await elsewhere.terminate();
    }
    const stored = await ctx.connections.find(key, { fresh: true });
    expect(stored!.enabled).toBe(false);
    expect(stored!.metadata).toEqual({ plan: 'enterprise' });
    expect(stored!.settings.api_key).toBe(API_KEY);
  });
});
