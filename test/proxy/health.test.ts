// A proxied call that ends in a provider 502/503/504 or a network failure marks the connection degraded (one
// `vault.connection.downstream.degraded` event per transition, health "degraded"); the next call the provider
// answers (2xx-4xx) clears it with one `vault.connection.downstream.recovered`.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setProxyAllowedHosts } from '../../src/vault/applications.js';
import { outbox } from '../support/oauth-harness.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson } from '../support/envelope.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { connect, proxyConnectors, proxyHeaders } from './support.js';
import { FAST_WEBHOOKS, startReceiver, verifyApideckSignature, verifyStandardWebhook } from '../support/webhook-receiver.js';

const KEY = 'health-key-03bb';
const HEALTH_EVENTS = ['vault.connection.downstream.degraded', 'vault.connection.downstream.recovered'];

describe.each(backends)('downstream health of a proxied connection (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let coffer: TestCoffer;
  let dir: string;
  const consumer = 'health-watched';

  const call = (url: string) => fetch(`${coffer.url}/proxy`, { headers: proxyHeaders(coffer, consumer, 'px-bearer', url) });
  const events = async () => (await outbox(coffer, { consumer })).filter((e) => HEALTH_EVENTS.includes(e.event_type));
  const health = async () => (await okJson(await fetch(`${coffer.url}/vault/connections/crm/px-bearer`, { headers: coffer.headers(consumer) }))).data;

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    upstream.accepts = (credential) => credential === KEY;
    dir = writeConnectorDir('coffer-proxy-health-', proxyConnectors(upstream.url));
    coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true', COFFER_ALLOW_INSECURE_PROVIDERS: 'true', ...FAST_WEBHOOKS });
    await connect(coffer, consumer, 'px-bearer', { api_key: KEY });
  });
  afterAll(async () => {
    await coffer?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('503s degrade once, the next answered call recovers once; a network failure degrades again, a 401 recovers', async () => {
    expect(await events()).toEqual([]);
    upstream.failWith = 503;
    const outage = await call(`${upstream.url}/bearer/echo`);
    expect(outage.status).toBe(503);
    expect(await outage.json()).toEqual({ message: 'outage' });
    let seen = await events();
    expect(seen.map((e) => e.event_type)).toEqual(['vault.connection.downstream.degraded']);
    const entity = seen[0].payload.payload.entity;
    expect(entity).toMatchObject({ id: 'crm+px-bearer', consumer_id: consumer, service_id: 'px-bearer', state: 'callable', health: 'degraded' });
    expect(seen[0].payload.payload).toMatchObject({ event_type: 'vault.connection.downstream.degraded', entity_type: 'Connection', entity_id: 'crm+px-bearer' });
    expect(await health()).toMatchObject({ state: 'callable', health: 'degraded' });

    // Still down (502, 504, 503 again): no further event.
    for (const status of [502, 504, 503]) {
      upstream.failWith = status;
      expect((await call(`${upstream.url}/bearer/echo`)).status).toBe(status);
    }
    expect(await events()).toHaveLength(1);

    upstream.failWith = null;
    await okJson(await call(`${upstream.url}/bearer/echo`));
    seen = await events();
    expect(seen.map((e) => e.event_type)).toEqual(['vault.connection.downstream.degraded', 'vault.connection.downstream.recovered']);
    expect(seen[1].payload.payload.entity).toMatchObject({ health: 'ok', state: 'callable' });
    expect(await health()).toMatchObject({ state: 'callable', health: 'ok' });

    // Healthy calls write nothing: no event, whatever the (non-5xx) status.
    expect((await call(`${upstream.url}/bearer/nowhere`)).status).toBe(404);
    await okJson(await call(`${upstream.url}/bearer/echo`));
    expect(await events()).toHaveLength(2);

    // A network failure (nothing listens on port 9) degrades; a provider 401 is an answer, so it recovers.
    await setProxyAllowedHosts(coffer.runtime.ctx, coffer.appId, ['127.0.0.1']);
    await expectErrorEnvelope(await call('http://127.0.0.1:9/down'), 502, 'ConnectorExecutionError');
    expect(await health()).toMatchObject({ health: 'degraded' });
    upstream.accepts = () => false;
    expect((await call(`${upstream.url}/bearer/echo`)).status).toBe(401);
    upstream.accepts = (credential) => credential === KEY;
    expect((await events()).map((e) => e.event_type)).toEqual([...HEALTH_EVENTS, ...HEALTH_EVENTS]);
    expect(await health()).toMatchObject({ health: 'ok' });
  });

  it("the caller's own mistakes (a refused host) say nothing about the provider's health", async () => {
    const before = (await events()).length;
    await expectErrorEnvelope(await call('https://elsewhere.example/x'), 403, 'ForbiddenError');
    expect(await events()).toHaveLength(before);
  });

  it('a webhook receiver gets both health events, signed', async () => {
    const receiver = await startReceiver();
    try {
      const sub = await okJson(
        await fetch(`${coffer.url}/webhook/webhooks`, {
          method: 'POST',
          headers: { ...coffer.headers(), 'content-type': 'application/json' },
          body: JSON.stringify({ unified_api: 'crm', delivery_url: receiver.url, events: HEALTH_EVENTS }),
        }),
        201,
      );
      upstream.failWith = 503;
      expect((await call(`${upstream.url}/bearer/echo`)).status).toBe(503);
      upstream.failWith = null;
      await okJson(await call(`${upstream.url}/bearer/echo`));
      const got = await receiver.waitFor((list) => list.length === 2);
      expect(got.map((d) => d.json.payload.event_type).sort()).toEqual([...HEALTH_EVENTS].sort());
      for (const d of got) {
        expect(() => verifyStandardWebhook(sub.data.secret, d)).not.toThrow();
        expect(verifyApideckSignature(coffer.apiKey, d)).toBe(true);
        expect(d.body).not.toContain(KEY);
        expect(d.json.payload.entity).toMatchObject({ consumer_id: consumer, service_id: 'px-bearer' });
      }
    } finally {
      upstream.failWith = null;
      await receiver.close();
    }
  });
});
