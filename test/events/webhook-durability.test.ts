// Webhook delivery is durable: a `coffer serve` killed with deliveries pending delivers them after a restart; the CLI
// manages subscriptions and redelivers; on PostgreSQL two instances share the outbox without delivering an attempt
// twice. Spawns the BUILT CLI (dist/cli.js).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, openRuntime } from '../../src/runtime.js';
import { startServer } from '../../src/server.js';
import { cliChildren, runCli, serveCli, stopCli } from '../support/cli.js';
import { backends, dropSchema, postgresUrlWithSchema, startCoffer } from '../support/coffer.js';
import { startReceiver, verifyApideckSignature, verifyStandardWebhook, type Delivery } from '../support/webhook-receiver.js';

const FAST = {
  COFFER_WEBHOOK_POLL_MS: '30',
  COFFER_WEBHOOK_BACKOFF_MS: '60',
  COFFER_WEBHOOK_BACKOFF_MAX_MS: '300',
  // Short, so the attempts the killed server had in flight are due again soon after the restart.
  COFFER_WEBHOOK_TIMEOUT_MS: '500',
  COFFER_WEBHOOK_MAX_ATTEMPTS: '50',
  COFFER_ALLOW_PRIVATE_WEBHOOKS: 'true',
};

const eventId = (d: Delivery) => d.json?.payload?.event_id as string;

async function cli(args: string[], env: Record<string, string>): Promise<any> {
  const { code, stdout, stderr } = await runCli([...args, '--json'], env);
  expect(code, `coffer ${args.join(' ')}: ${stderr}`).toBe(0);
  return JSON.parse(stdout);
}

async function saveKey(base: string, headers: Record<string, string>, consumer: string, key: string): Promise<void> {
  const res = await fetch(`${base}/vault/connections/crm/pipedrive`, {
    method: 'PATCH',
    headers: { ...headers, 'x-apideck-consumer-id': consumer, 'content-type': 'application/json' },
    body: JSON.stringify({ settings: { api_key: key } }),
  });
  expect(res.status, await res.text()).toBe(200);
}

afterAll(async () => {
  await Promise.all([...cliChildren].map(stopCli));
});

describe.each(backends)('webhook delivery across a crash (%s)', (backend) => {
  it('deliveries pending when the server is killed are made after it restarts', async () => {
    const receiver = await startReceiver();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-hooks-'));
    const schema = backend === 'postgres' ? `t_${crypto.randomBytes(6).toString('hex')}` : null;
    const env: Record<string, string> = {
      ...FAST,
      COFFER_DATA_DIR: dataDir,
      COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      COFFER_VERIFY_CREDENTIALS: 'false',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...(schema ? { DATABASE_URL: postgresUrlWithSchema(process.env.TEST_DATABASE_URL!, schema) } : {}),
    };
    try {
      const app = await cli(['app', 'create'], env);
      const added = await cli(['webhook', 'add', '--app', app.application_id, '--url', receiver.url, '--events', 'vault.connection.created', '--description', 'crash test'], env);
      expect(added).toMatchObject({ status: 'enabled', events: ['vault.connection.created'], delivery_url: receiver.url });
      const secret: string = added.secret;
      const headers = { authorization: `Bearer ${app.api_key}`, 'x-apideck-app-id': app.application_id };

      receiver.failAlways(503);
      let server = await serveCli(['--port', '0'], env);
      const consumers = ['crash-1', 'crash-2', 'crash-3'];
      for (const consumer of consumers) await saveKey(server.url, headers, consumer, `key-${consumer}`);
      // Every event has been tried (and refused) at least once before the crash.
      const deadline = Date.now() + 10_000;
      while (new Set(receiver.all.map(eventId)).size < consumers.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(new Set(receiver.all.map(eventId)).size).toBe(consumers.length);
      expect(receiver.accepted()).toHaveLength(0);

      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGKILL');
      await exited;
      receiver.failAlways(null);
      server = await serveCli(['--port', '0'], env);

      const accepted = await receiver.waitFor((list) => new Set(list.map(eventId)).size === consumers.length);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.accepted()).toHaveLength(consumers.length);
      expect(accepted.map((d) => d.json.payload.entity.consumer_id).sort()).toEqual(consumers);
      for (const d of receiver.all) {
        expect(() => verifyStandardWebhook(secret, d)).not.toThrow();
        // Subscribed from the CLI, without an API key: Apideck's header is keyed with the subscription secret.
        expect(verifyApideckSignature(secret, d)).toBe(true);
        expect(d.body).not.toContain('key-crash');
      }
      const attempts = accepted.map((d) => d.json.payload.execution_attempt);
      expect(Math.min(...attempts)).toBeGreaterThan(1);

      await stopCli(server.child);
    } finally {
      await receiver.close();
      if (schema) await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the webhook CLI beside a running server (sqlite)', () => {
  it('adds, lists, redelivers, rotates and removes subscriptions', async () => {
    const receiver = await startReceiver();
    const coffer = await startCoffer('sqlite', FAST);
    const env = { COFFER_DATA_DIR: coffer.dataDir, COFFER_MASTER_KEY: coffer.masterKey, ...FAST };
    const app = { application_id: coffer.appId };
    try {
      const added = await cli(['webhook', 'add', '--app', app.application_id, '--url', receiver.url], env);
      expect(added).toMatchObject({ status: 'enabled', events: ['*'], unified_api: 'vault' });
      const secret: string = added.secret;
      await saveKey(coffer.url, coffer.headers(), 'cli-1', 'key-cli-1');
      const accepted = await receiver.waitFor((list) => list.some((d) => d.json.payload.event_type === 'vault.connection.created'));
      const first = accepted.find((d) => d.json.payload.event_type === 'vault.connection.created')!;
      expect(() => verifyStandardWebhook(secret, first)).not.toThrow();

      // Redeliver: the same event, the same idempotency key, a fresh series of attempts.
      const queued = await cli(['webhook', 'redeliver', eventId(first), '--app', app.application_id], env);
      expect(queued).toEqual({ event_id: eventId(first), webhooks: [added.id] });
      const again = (await receiver.waitFor((list) => list.filter((d) => eventId(d) === eventId(first)).length === 2)).filter((d) => eventId(d) === eventId(first))[1];
      expect(again.headers['x-apideck-idempotency-key']).toBe(first.headers['x-apideck-idempotency-key']);
      expect(again.json.payload.execution_attempt).toBe(1);

      // Rotation: the new secret verifies, and so does the previous one for the overlap.
      const rotated = await cli(['webhook', 'rotate-secret', added.id, '--app', app.application_id], env);
      expect(rotated.secret).toMatch(/^whsec_/);
      expect(rotated.secret).not.toBe(secret);
      await cli(['webhook', 'redeliver', eventId(first), '--app', app.application_id], env);
      const third = (await receiver.waitFor((list) => list.filter((d) => eventId(d) === eventId(first)).length === 3)).filter((d) => eventId(d) === eventId(first))[2];
      expect(() => verifyStandardWebhook(rotated.secret, third)).not.toThrow();
      expect(() => verifyStandardWebhook(secret, third)).not.toThrow();
      expect(() => verifyStandardWebhook(`whsec_${crypto.randomBytes(24).toString('base64')}`, third)).toThrow();

      const listed = await cli(['webhook', 'list', '--app', app.application_id], env);
      expect(listed.map((w: any) => w.id)).toEqual([added.id]);
      expect(JSON.stringify(listed)).not.toContain('whsec_');
      const missing = await runCli(['webhook', 'redeliver', 'no-such-event', '--app', app.application_id], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no-such-event');
      await cli(['webhook', 'remove', added.id, '--app', app.application_id], env);
      expect(await cli(['webhook', 'list', '--app', app.application_id], env)).toEqual([]);
    } finally {
      await coffer.close();
      await receiver.close();
    }
  });
});

const clusterBackends = backends.filter((b) => b === 'postgres');

it('the two-instance webhook test runs exactly when TEST_DATABASE_URL is set', () => {
  expect(clusterBackends.length).toBe(process.env.TEST_DATABASE_URL ? 1 : 0);
  if (clusterBackends.length === 0) process.stderr.write('webhook-durability.test.ts: TEST_DATABASE_URL is unset, so the two-instance webhook test DID NOT RUN\n');
});

describe.each(clusterBackends)('two instances on one PostgreSQL share the outbox (%s)', (backend) => {
  it('every event is delivered once, and no attempt is made twice', async () => {
    const receiver = await startReceiver({ delayMs: 15 });
    const env = { ...FAST, COFFER_WEBHOOK_POLL_MS: '5' };
    const a = await startCoffer(backend, env);
    const peerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-peer-'));
    const peerRuntime = await openRuntime(
      loadConfig({ ...env, PORT: '0', HOST: '127.0.0.1', COFFER_DATA_DIR: peerDir, COFFER_MASTER_KEY: a.masterKey, DATABASE_URL: a.databaseUrl!, COFFER_VERIFY_CREDENTIALS: 'false', LOG_LEVEL: 'silent' }),
    );
    const b = await startServer(peerRuntime, createLogger('silent'), { port: 0, host: '127.0.0.1' });
    try {
      const sub = await (
        await fetch(`${a.url}/webhook/webhooks`, {
          method: 'POST',
          headers: { ...a.headers(), 'content-type': 'application/json' },
          body: JSON.stringify({ unified_api: 'crm', delivery_url: receiver.url, events: ['*'] }),
        })
      ).json();
      receiver.failNext(12, 502);
      const consumers = Array.from({ length: 16 }, (_, i) => `pair-${i}`);
      await Promise.all(consumers.map((consumer, i) => saveKey(i % 2 ? b.url : a.url, a.headers(), consumer, `k-${i}`)));
      const events = await a.runtime.ctx.db.selectFrom('outbox').select('id').where('application_id', '=', a.appId).execute();
      expect(events.length).toBe(consumers.length * 2);
      await receiver.waitFor((list) => new Set(list.map(eventId)).size === events.length, 20_000);
      await new Promise((r) => setTimeout(r, 300));

      expect(receiver.accepted().map(eventId).sort()).toEqual(events.map((e) => e.id).sort());
      const attemptKeys = receiver.all.map((d) => `${d.headers['webhook-id']}#${d.json.payload.execution_attempt}`);
      expect(new Set(attemptKeys).size).toBe(attemptKeys.length);
      expect(receiver.all.length).toBe(events.length + 12);
      for (const d of receiver.all) expect(() => verifyStandardWebhook(sub.data.secret, d)).not.toThrow();
    } finally {
      await b.close();
      await peerRuntime.close();
      await a.close();
      await receiver.close();
      fs.rmSync(peerDir, { recursive: true, force: true });
    }
  });
});
