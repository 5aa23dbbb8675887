// `GET /vault/consumers` pages carry each consumer's services, also when a filter leaves gaps between the consumers of
// a page (the services are read for the page's id range and kept for its own consumers only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson, type Json } from '../support/envelope.js';

const CONSUMERS: Array<{ id: string; email: string; services: Array<[string, string]> }> = [
  { id: 'page-a', email: 'match-a@example.com', services: [['crm', 'pipedrive'], ['lead', 'clearbit']] },
  { id: 'page-b', email: 'other-b@example.com', services: [['crm', 'pipedrive']] },
  { id: 'page-c', email: 'match-c@example.com', services: [['email-marketing', 'brevo']] },
  { id: 'page-d', email: 'match-d@example.com', services: [] },
  { id: 'page-e', email: 'other-e@example.com', services: [['lead', 'clearbit']] },
];

describe.each(backends)('consumer pages (%s)', (backend) => {
  let coffer: TestCoffer;
  const list = async (query: string) => okJson(await fetch(`${coffer.url}/vault/consumers?${query}`, { headers: coffer.headers() }));
  const servicesOf = (page: Json) => Object.fromEntries((page.data as Json[]).map((c) => [c.consumer_id, c.services]));

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    for (const consumer of CONSUMERS) {
      const headers = { ...coffer.headers(), 'content-type': 'application/json' };
      const created = await fetch(`${coffer.url}/vault/consumers`, { method: 'POST', headers, body: JSON.stringify({ consumer_id: consumer.id, metadata: { email: consumer.email } }) });
      expect(created.status).toBe(200);
      for (const [api, service] of consumer.services) {
        const saved = await fetch(`${coffer.url}/vault/connections/${api}/${service}`, {
          method: 'POST',
          headers: { ...coffer.headers(consumer.id), 'content-type': 'application/json' },
          body: JSON.stringify({ settings: { api_key: `key-of-${consumer.id}` } }),
        });
        expect(saved.status).toBe(200);
      }
    }
  });

  afterAll(async () => {
    await coffer?.close();
  });

  it('lists each consumer with its own services, page by page', async () => {
    const first = await list('limit=2');
    expect(servicesOf(first)).toEqual({ 'page-a': ['clearbit', 'pipedrive'], 'page-b': ['pipedrive'] });
    const second = await list(`limit=2&cursor=${encodeURIComponent(first.meta.cursors.next)}`);
    expect(servicesOf(second)).toEqual({ 'page-c': ['brevo'], 'page-d': [] });
  });

  it('keeps the services of consumers a filter skipped out of the page', async () => {
    const matched = await list('filter[search]=match&limit=10');
    expect(servicesOf(matched)).toEqual({ 'page-a': ['clearbit', 'pipedrive'], 'page-c': ['brevo'], 'page-d': [] });
  });
});
