// Webhooks end to end: subscriptions through the official @apideck/unify SDK, every vault.connection.* event
// delivered to a real receiver on 127.0.0.1 that refuses the first attempts, both signatures verified as receivers
// verify them, the event log, and the retry limit.
import dns from 'node:dns';
import { Apideck } from '@apideck/unify';
import { NotFoundResponse } from '@apideck/unify/models/errors/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, editConnections, startCoffer } from '../support/coffer.js';
import { expectErrorEnvelope } from '../support/envelope.js';
import {
  api,
  authorize,
  credentials,
  getConnection,
  outbox,
  providerRevoke,
  startHarness,
  withParams,
  fetchManual,
  APP_REDIRECT,
  type Harness,
} from '../support/oauth-harness.js';
import { FAST_WEBHOOKS, startReceiver, verifyApideckSignature, verifyStandardWebhook, type Delivery, type Receiver } from '../support/webhook-receiver.js';

const API_KEY_CONNECTORS: Record<string, string> = {
  'hook-legacy.yaml': `id: hook-legacy
name: Legacy CRM (webhooks test)
website: https://legacy.example.com
unified_apis: [crm]
auth_type: apiKey
form_fields:
  - { id: api_key, label: API key, type: password, required: true, sensitive: true }
migration_targets: [hook-modern]
`,
  'hook-modern.yaml': `id: hook-modern
name: Modern CRM (webhooks test)
website: https://modern.example.com
unified_apis: [crm]
auth_type: apiKey
form_fields:
  - { id: api_key, label: API key, type: password, required: true, sensitive: true }
`,
};

const CONNECTION_KEY = 'hook-plaintext-api-key-5d1e';

/** Every event type Coffer emits for connections, except the proxy's downstream pair (test/proxy). */
const LIFECYCLE_EVENTS = [
  'vault.connection.created',
  'vault.connection.updated',
  'vault.connection.disabled',
  'vault.connection.deleted',
  'vault.connection.callable',
  'vault.connection.revoked',
  'vault.connection.migrated',
  'vault.connection.token_refresh.failed',
  'vault.connection.token_refresh.pending',
  'vault.connection.token_refresh.recovered',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(backends)('Webhooks (%s)', (backend) => {
  let h: Harness;
  let receiver: Receiver;
  let oauthService: string;
  const sdk = () =>
    new Apideck({ serverURL: h.coffer.url, apiKey: h.coffer.apiKey, appId: h.coffer.appId, retryConfig: { strategy: 'none' } });
  const appHeaders = () => ({ ...h.coffer.headers(), 'content-type': 'application/json' });

  async function subscribe(body: Record<string, unknown>, headers = appHeaders()): Promise<{ status: number; body: any }> {
    const res = await fetch(`${h.coffer.url}/webhook/webhooks`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }

  beforeAll(async () => {
    receiver = await startReceiver();
    h = await startHarness(backend, [{ id: 'hook-oidc' }], FAST_WEBHOOKS, API_KEY_CONNECTORS);
    oauthService = h.services['hook-oidc'];
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('the SDK creates, lists, reads, updates and deletes subscriptions; bad input is a 400 envelope', async () => {
    const apideck = sdk();
    const created = await apideck.webhook.webhooks.create({
      createWebhookRequest: { unifiedApi: 'vault', status: 'enabled', deliveryUrl: `${receiver.url}/sdk`, events: ['vault.connection.callable'], description: 'SDK made' },
    });
    expect(created.httpMeta.response.status).toBe(201);
    const hook = created.createWebhookResponse!.data;
    expect(hook).toMatchObject({ unifiedApi: 'vault', status: 'enabled', disabledReason: 'none', deliveryUrl: `${receiver.url}/sdk`, events: ['vault.connection.callable'] });
    expect(hook.id).toEqual(expect.any(String));
    expect(hook.executeBaseUrl).toContain(hook.id!);
    expect(hook.createdAt).toBeInstanceOf(Date);

    const listed = await apideck.webhook.webhooks.list({});
    expect(listed.getWebhooksResponse!.data.map((w) => w.id)).toContain(hook.id);
    const one = await apideck.webhook.webhooks.get({ id: hook.id! });
    expect(one.getWebhookResponse!.data.description).toBe('SDK made');

    const updated = await apideck.webhook.webhooks.update({
      id: hook.id!,
      updateWebhookRequest: { description: 'renamed', events: ['vault.connection.created', 'vault.connection.deleted'], status: 'disabled' },
    });
    expect(updated.updateWebhookResponse!.data).toMatchObject({ description: 'renamed', status: 'disabled', events: ['vault.connection.created', 'vault.connection.deleted'] });

    // Listing never shows a signing secret.
    const raw = await (await fetch(`${h.coffer.url}/webhook/webhooks`, { headers: h.coffer.headers() })).text();
    expect(raw).not.toContain('whsec_');

    const deleted = await apideck.webhook.webhooks.delete({ id: hook.id! });
    expect(deleted.deleteWebhookResponse!.data.id).toBe(hook.id);
    await expect(apideck.webhook.webhooks.get({ id: hook.id! })).rejects.toBeInstanceOf(NotFoundResponse);

    for (const bad of [
      { unified_api: 'vault', delivery_url: 'ftp://example.com/hook', events: ['*'] },
      { unified_api: 'vault', delivery_url: 'not a url', events: ['*'] },
      { unified_api: 'vault', delivery_url: receiver.url, events: [] },
      { unified_api: 'vault', delivery_url: receiver.url, events: ['Not An Event'] },
      { unified_api: 'vault', delivery_url: receiver.url, events: ['*'], secret: 'mine' },
      { delivery_url: receiver.url, events: ['*'] },
    ]) {
      const res = await fetch(`${h.coffer.url}/webhook/webhooks`, { method: 'POST', headers: appHeaders(), body: JSON.stringify(bad) });
      await expectErrorEnvelope(res, 400, 'RequestValidationError', JSON.stringify(bad));
    }
    const patchMissing = await fetch(`${h.coffer.url}/webhook/webhooks/wh_missing`, { method: 'PATCH', headers: appHeaders(), body: JSON.stringify({ description: 'x' }) });
    await expectErrorEnvelope(patchMissing, 404, 'EntityNotFoundError');
    const listedAfter = await apideck.webhook.webhooks.list({});
    expect(listedAfter.getWebhooksResponse!.data.map((w) => w.id)).not.toContain(hook.id);
  });

  it('another application can neither see nor change a subscription', async () => {
    const mine = await subscribe({ unified_api: 'vault', delivery_url: `${receiver.url}/mine`, events: ['vault.connection.deleted'] });
    expect(mine.status).toBe(201);
    const other = await h.coffer.createApp();
    const otherHeaders = { authorization: `Bearer ${other.api_key}`, 'x-apideck-app-id': other.application_id, 'content-type': 'application/json' };
    await expectErrorEnvelope(await fetch(`${h.coffer.url}/webhook/webhooks/${mine.body.data.id}`, { headers: otherHeaders }), 404, 'EntityNotFoundError');
    await expectErrorEnvelope(await fetch(`${h.coffer.url}/webhook/webhooks/${mine.body.data.id}`, { method: 'DELETE', headers: otherHeaders }), 404, 'EntityNotFoundError');
    const list = await (await fetch(`${h.coffer.url}/webhook/webhooks`, { headers: otherHeaders })).json();
    expect(list.data).toEqual([]);
    await fetch(`${h.coffer.url}/webhook/webhooks/${mine.body.data.id}`, { method: 'DELETE', headers: h.coffer.headers() });
  });

  it('delivers every connection event once, signed both ways, through refused first attempts', async () => {
    receiver.failNext(3, 503);
    const sub = await subscribe({ unified_api: 'vault', delivery_url: receiver.url, events: ['*'], description: 'everything' });
    expect(sub.status).toBe(201);
    const secret: string = sub.body.data.secret;
    expect(secret).toMatch(/^whsec_/);
    const start = (await outbox(h.coffer)).length;

    // API key connection: created + callable, disabled, enabled again, migrated, deleted.
    const apiConsumer = 'hooks-apikey';
    expect((await api(h.coffer, apiConsumer, 'PATCH', '/vault/connections/crm/hook-legacy', { settings: { api_key: CONNECTION_KEY } })).status).toBe(200);
    expect((await api(h.coffer, apiConsumer, 'PATCH', '/vault/connections/crm/hook-legacy', { enabled: false })).status).toBe(200);
    expect((await api(h.coffer, apiConsumer, 'PATCH', '/vault/connections/crm/hook-legacy', { enabled: true })).status).toBe(200);
    const migrated = await api(h.coffer, apiConsumer, 'POST', '/vault/connections/crm/hook-legacy/migrate', { target_service_id: 'hook-modern' });
    expect(migrated.status, migrated.text).toBeLessThan(300);
    expect((await api(h.coffer, apiConsumer, 'DELETE', '/vault/connections/crm/hook-modern')).status).toBe(204);

    // OAuth: authorize (created → updated → callable), a refresh during a provider outage (pending), then after it
    // (recovered), a refresh token the provider no longer honours (failed), and a revocation (revoked).
    const oauthConsumer = 'hooks-oauth';
    await authorize(h, oauthConsumer, oauthService);
    const expire = (consumer: string) => editConnections(h.coffer, { token_expires_at: Date.now() - 60_000 }, { consumerId: consumer });
    await expire(oauthConsumer);
    h.provider.tokenOutages = 1;
    const duringOutage = await credentials(h.coffer, oauthConsumer, 'crm', oauthService);
    expect(duringOutage.status, duringOutage.text).toBeGreaterThanOrEqual(400);
    expect(h.provider.tokenOutages).toBe(0);
    const afterOutage = await credentials(h.coffer, oauthConsumer, 'crm', oauthService);
    expect(afterOutage.status, afterOutage.text).toBe(200);
    const accessToken: string = afterOutage.body.data.access_token;

    const revoked = await getConnection(h.coffer, oauthConsumer, 'crm', oauthService);
    const revoke = await fetchManual(withParams(revoked.revoke_url, { redirect_uri: APP_REDIRECT }));
    expect(revoke.status).toBeLessThan(400);

    const invalidConsumer = 'hooks-invalid';
    await authorize(h, invalidConsumer, oauthService);
    const issued = await credentials(h.coffer, invalidConsumer, 'crm', oauthService);
    const grant = h.grants.find((g) => g.accessToken === issued.body.data.access_token);
    await providerRevoke(h.provider, grant!.refreshToken!, 'refresh_token');
    await expire(invalidConsumer);
    expect((await credentials(h.coffer, invalidConsumer, 'crm', oauthService)).status).toBe(401);

    const events = (await outbox(h.coffer)).slice(start);
    expect(new Set(events.map((e) => e.event_type))).toEqual(new Set(LIFECYCLE_EVENTS));
    expect(events.filter((e) => e.consumer_id === oauthConsumer).map((e) => e.event_type).slice(0, 3)).toEqual([
      'vault.connection.created',
      'vault.connection.updated',
      'vault.connection.callable',
    ]);

    const wanted = new Set(events.map((e) => e.id));
    const delivered = (d: Delivery) => d.json?.payload?.event_id as string;
    await receiver.waitFor((accepted) => [...wanted].every((id) => accepted.some((d) => delivered(d) === id)));
    const mine = receiver.all.filter((d) => wanted.has(delivered(d)));
    const accepted = mine.filter((d) => d.answered === 200);
    // Exactly once each: every event accepted one time, none twice.
    expect(accepted.map(delivered).sort()).toEqual([...wanted].sort());

    const secrets = [CONNECTION_KEY, accessToken, grant!.refreshToken!, h.provider.clientSecret];
    for (const d of mine) {
      expect(() => verifyStandardWebhook(secret, d)).not.toThrow();
      expect(verifyApideckSignature(h.coffer.apiKey, d)).toBe(true);
      expect(d.headers['content-type']).toBe('application/json');
      expect(d.headers['x-apideck-event-type']).toBe(d.json.payload.event_type);
      expect(d.headers['x-apideck-idempotency-key']).toMatch(UUID);
      expect(d.headers['webhook-id']).toBe(d.headers['x-apideck-idempotency-key']);
      expect(d.json.payload).toMatchObject({ service_id: 'coffer-vault', entity_type: 'Connection', entity_id: d.json.payload.entity.id });
      expect(d.json.payload.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT/);
      for (const s of secrets) expect(d.body).not.toContain(s);
    }
    const migratedEvent = accepted.find((d) => d.json.payload.event_type === 'vault.connection.migrated')!;
    expect(migratedEvent.json.payload.entity).toMatchObject({ service_id: 'hook-modern', migrated_from: 'hook-legacy' });

    // The refused attempts were retried under the same idempotency key with a higher execution_attempt.
    const refused = mine.filter((d) => d.answered === 503);
    expect(refused.length).toBe(3);
    for (const r of refused) {
      const retried = accepted.find((d) => d.headers['x-apideck-idempotency-key'] === r.headers['x-apideck-idempotency-key'])!;
      expect(retried).toBeDefined();
      expect(retried.json.payload.execution_attempt).toBeGreaterThan(r.json.payload.execution_attempt);
    }

    // The event log, through the SDK: failures with a retry scheduled, then the successes.
    const apideck = sdk();
    const failures = await apideck.webhook.eventLogs.list({ filter: { success: false }, limit: 50 });
    const failed = failures.getWebhookEventLogsResponse!.data;
    expect(failed.length).toBeGreaterThanOrEqual(3);
    for (const entry of failed) expect(entry).toMatchObject({ success: false, statusCode: 503, retryScheduled: true, httpMethod: 'POST', endpoint: receiver.url });
    const typed = await apideck.webhook.eventLogs.list({ filter: { eventType: 'vault.connection.migrated' } });
    const migratedLog = typed.getWebhookEventLogsResponse!.data;
    expect(migratedLog.length).toBeGreaterThanOrEqual(1);
    expect(migratedLog.every((entry) => entry.eventType === 'vault.connection.migrated')).toBe(true);
    expect(migratedLog[0]).toMatchObject({ success: true, statusCode: 200, service: { id: 'hook-modern' }, consumerId: apiConsumer, entityType: 'Connection' });
    const retriedEntry = (await apideck.webhook.eventLogs.list({ filter: { success: true }, limit: 200 })).getWebhookEventLogsResponse!.data.find(
      (entry) => (entry.attempts?.length ?? 0) > 1,
    );
    expect(retriedEntry?.attempts?.map((a) => a.success)).toEqual([...Array(retriedEntry!.attempts!.length - 1).fill(false), true]);

    await fetch(`${h.coffer.url}/webhook/webhooks/${sub.body.data.id}`, { method: 'DELETE', headers: h.coffer.headers() });
  });

  it('after the last failed attempt the subscription is disabled with retry_limit, and stays quiet', async () => {
    const failing = await startReceiver();
    failing.failAlways(500);
    const coffer = await startCoffer(backend, { ...FAST_WEBHOOKS, COFFER_WEBHOOK_MAX_ATTEMPTS: '4' });
    try {
      const headers = { ...coffer.headers(), 'content-type': 'application/json' };
      const sub = await (await fetch(`${coffer.url}/webhook/webhooks`, { method: 'POST', headers, body: JSON.stringify({ unified_api: 'crm', delivery_url: failing.url, events: ['vault.connection.created'] }) })).json();
      const res = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'PATCH', headers: { ...coffer.headers('retry-consumer'), 'content-type': 'application/json' }, body: JSON.stringify({ settings: { api_key: 'k' } }) });
      expect(res.status).toBe(200);
      const deadline = Date.now() + 10_000;
      let hook: any;
      do {
        await new Promise((r) => setTimeout(r, 50));
        hook = (await (await fetch(`${coffer.url}/webhook/webhooks/${sub.data.id}`, { headers: coffer.headers() })).json()).data;
      } while (hook.status === 'enabled' && Date.now() < deadline);
      expect(hook).toMatchObject({ status: 'disabled', disabled_reason: 'retry_limit' });
      expect(failing.all.map((d) => d.json.payload.execution_attempt)).toEqual([1, 2, 3, 4]);
      expect(new Set(failing.all.map((d) => d.headers['webhook-id'])).size).toBe(1);

      const logs = (await (await fetch(`${coffer.url}/webhook/logs?filter[event_type]=vault.connection.created`, { headers: coffer.headers() })).json()).data;
      expect(logs.map((l: any) => [l.execution_attempt, l.status_code, l.retry_scheduled])).toEqual([
        [4, 500, false],
        [3, 500, true],
        [2, 500, true],
        [1, 500, true],
      ]);

      // Disabled: new events are not attempted.
      await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'DELETE', headers: coffer.headers('retry-consumer') });
      await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'PATCH', headers: { ...coffer.headers('retry-consumer'), 'content-type': 'application/json' }, body: JSON.stringify({ settings: { api_key: 'k2' } }) });
      await new Promise((r) => setTimeout(r, 400));
      expect(failing.all).toHaveLength(4);

      // Enabling it again clears the reason.
      const enabled = await (await fetch(`${coffer.url}/webhook/webhooks/${sub.data.id}`, { method: 'PATCH', headers, body: JSON.stringify({ status: 'enabled' }) })).json();
      expect(enabled.data).toMatchObject({ status: 'enabled', disabled_reason: 'none' });
    } finally {
      await coffer.close();
      await failing.close();
    }
  });

  it('checks a delivery URL without the network when it is saved, and its address at every delivery', async () => {
    const coffer = await startCoffer(backend, { ...FAST_WEBHOOKS, COFFER_ALLOW_PRIVATE_WEBHOOKS: 'false' });
    const headers = { ...coffer.headers(), 'content-type': 'application/json' };
    const create = (delivery_url: string) => fetch(`${coffer.url}/webhook/webhooks`, { method: 'POST', headers, body: JSON.stringify({ unified_api: 'vault', delivery_url, events: ['*'] }) });
    // The test's stand-in for DNS: this name resolves to loopback (it could have resolved anywhere when saved).
    const rebinding = 'hooks.rebinding.test';
    const realLookup = dns.lookup;
    dns.lookup = ((hostname: string, ...rest: unknown[]) =>
      (realLookup as (...args: unknown[]) => unknown)(hostname === rebinding ? '127.0.0.1' : hostname, ...rest)) as unknown as typeof dns.lookup;
    try {
      // A name that does not resolve now is accepted: it is resolved when delivering, not when saving.
      const unresolvable = await create('https://hooks.invalid/x');
      expect(unresolvable.status, await unresolvable.clone().text()).toBe(201);
      const made = (await unresolvable.json()).data;
      const patched = await fetch(`${coffer.url}/webhook/webhooks/${made.id}`, { method: 'PATCH', headers, body: JSON.stringify({ delivery_url: 'https://other.invalid/y' }) });
      expect(patched.status).toBe(200);

      // A literal loopback or private address, or localhost, is refused when saved (creating or updating).
      for (const url of ['http://127.0.0.1/', receiver.url, 'http://10.1.2.3:8080/h', 'http://[::1]/h', 'http://[::ffff:127.0.0.1]/h', 'http://localhost:9/h', 'https://api.LOCALHOST./h']) {
        const { body } = await expectErrorEnvelope(await create(url), 400, 'RequestValidationError', url);
        expect(body.message).toContain('COFFER_ALLOW_PRIVATE_WEBHOOKS');
      }
      const privatePatch = await fetch(`${coffer.url}/webhook/webhooks/${made.id}`, { method: 'PATCH', headers, body: JSON.stringify({ delivery_url: 'http://192.168.1.1/' }) });
      await expectErrorEnvelope(privatePatch, 400, 'RequestValidationError');
      await fetch(`${coffer.url}/webhook/webhooks/${made.id}`, { method: 'DELETE', headers: coffer.headers() });
      // Allowed (this file's main server sets COFFER_ALLOW_PRIVATE_WEBHOOKS), the same addresses are accepted.
      for (const url of ['http://127.0.0.1/', 'http://localhost:9/h']) {
        const allowed = await subscribe({ unified_api: 'vault', delivery_url: url, events: ['*'] });
        expect(allowed.status, url).toBe(201);
        await fetch(`${h.coffer.url}/webhook/webhooks/${allowed.body.data.id}`, { method: 'DELETE', headers: h.coffer.headers() });
      }

      // A name that resolves to loopback at delivery: refused inside the connect, nothing sent, the log says why.
      const rebound = receiver.url.replace('127.0.0.1', rebinding);
      const sub = await create(rebound);
      expect(sub.status).toBe(201);
      const before = receiver.all.length;
      const saved = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, {
        method: 'PATCH',
        headers: { ...headers, 'x-apideck-consumer-id': 'rebinding' },
        body: JSON.stringify({ settings: { api_key: 'k' } }),
      });
      expect(saved.status).toBe(200);
      let logs: any[] = [];
      for (let i = 0; i < 100 && logs.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        logs = (await (await fetch(`${coffer.url}/webhook/logs`, { headers: coffer.headers() })).json()).data;
      }
      expect(logs[0]).toMatchObject({ success: false, status_code: 0, endpoint: rebound });
      expect(logs[0].response_body).toBe(`${rebinding} resolves to a private or loopback address`);
      expect(receiver.all.length).toBe(before);
    } finally {
      dns.lookup = realLookup;
      await coffer.close();
    }
  });
});
