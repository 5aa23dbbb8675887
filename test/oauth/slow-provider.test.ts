// A provider that hangs must not take the API down with it: refreshes wait at the provider without holding a
// transaction or a pooled database connection, so with 20 of them hanging (twice the PostgreSQL pool of 10) every
// other request keeps its usual pace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, editConnections } from '../support/coffer.js';
import { authorize, credentials, startHarness, type Harness } from '../support/oauth-harness.js';

const HANGING = 20;

describe.each(backends)('refreshes hanging at the provider (%s)', (backend) => {
  let h: Harness;
  let svc: string;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'hang-oidc' }]);
    svc = h.services['hang-oidc'];
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`${HANGING} refreshes hang at the provider while GET /vault/consumers keeps answering (p99 under 100 ms)`, async () => {
    const consumers = Array.from({ length: HANGING }, (_, i) => `hang-${i}`);
    for (const consumer of consumers) await authorize(h, consumer, svc);
    // Every token is due: the next /credentials of each consumer refreshes it.
    await editConnections(h.coffer, { token_expires_at: Date.now() - 60_000 });

    let release!: () => void;
    h.provider.tokenHold = new Promise<void>((resolve) => (release = resolve));
    const hits = h.provider.tokenEndpointHits;
    const hanging = consumers.map((consumer) => credentials(h.coffer, consumer, 'crm', svc));
    try {
      // All of them reach the provider: none waits for a database connection another one holds.
      const deadline = Date.now() + 10_000;
      while (h.provider.tokenEndpointHits - hits < HANGING && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(h.provider.tokenEndpointHits - hits).toBe(HANGING);

      const latencies: number[] = [];
      for (let i = 0; i < 50; i++) {
        const started = performance.now();
        const res = await fetch(`${h.coffer.url}/vault/consumers`, { headers: h.coffer.headers(), signal: AbortSignal.timeout(2_000) });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        latencies.push(performance.now() - started);
      }
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1];
      expect(p99, `latencies (ms): ${latencies.map((l) => l.toFixed(1)).join(' ')}`).toBeLessThan(100);
    } finally {
      release();
      h.provider.tokenHold = null;
    }
    // Once the provider answers, each refresh completes: nothing was lost while they waited.
    for (const res of await Promise.all(hanging)) expect(res.status, res.text).toBe(200);
    expect(h.grants.filter((g) => g.grantType === 'refresh_token')).toHaveLength(HANGING);
  });
});
