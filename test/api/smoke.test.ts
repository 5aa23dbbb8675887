import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';

describe.each(backends)('smoke (%s)', (backend) => {
  let coffer: TestCoffer;
  beforeAll(async () => {
    coffer = await startCoffer(backend);
  });
  afterAll(async () => coffer?.close());

  it('lists connections with an API key', async () => {
    const res = await fetch(`${coffer.url}/vault/connections`, { headers: coffer.headers('smoke') });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.data.map((c: { id: string }) => c.id)).toContain('crm+pipedrive');
  });
});
