// Exactly-once refresh checks shared by the cluster tests: connect a consumer through the real authorization-code flow,
// then fire a burst of concurrent `GET …/credentials` and count the provider's refresh grants.
import { expect } from 'vitest';
import { followRedirects, type TestProvider } from './oidc.js';

export const APP_REDIRECT = 'https://app.example/done';
export const BURST = 200;

type Headers = Record<string, string>;

export function resetCounts(provider: TestProvider): void {
  for (const key of Object.keys(provider.tokenRequests)) delete provider.tokenRequests[key];
}

export const refreshCount = (provider: TestProvider) => provider.tokenRequests.refresh_token ?? 0;

/** Connects `consumerId` with the real authorization-code flow through `baseUrl`; returns its first access token. */
export async function connect(baseUrl: string, serviceId: string, headers: Headers): Promise<string> {
  const before = await (await fetch(`${baseUrl}/vault/connections/crm/${serviceId}`, { headers })).json();
  expect(before.data.state).toBe('available');
  const authorizeUrl = `${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`;
  const result = await followRedirects(authorizeUrl, (url) => url.origin === 'https://app.example');
  expect(result.url.toString(), result.body).toBe(APP_REDIRECT);
  const after = await (await fetch(`${baseUrl}/vault/connections/crm/${serviceId}`, { headers })).json();
  expect(after.data.state).toBe('callable');
  const creds = await (await fetch(`${baseUrl}/vault/connections/crm/${serviceId}/credentials`, { headers })).json();
  expect(creds.data.access_token).toEqual(expect.any(String));
  return creds.data.access_token as string;
}

/** `count` concurrent `GET …/credentials`, spread evenly over `baseUrls`; every one must answer 200 with one token. */
export async function burst(baseUrls: string[], serviceId: string, headers: Headers, count = BURST): Promise<string> {
  const responses = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fetch(`${baseUrls[i % baseUrls.length]}/vault/connections/crm/${serviceId}/credentials`, { headers });
      return { status: res.status, body: await res.json() };
    }),
  );
  const failures = responses.filter((r) => r.status !== 200);
  expect(failures.length, JSON.stringify(failures.slice(0, 3))).toBe(0);
  const tokens = new Set(responses.map((r) => r.body.data.access_token as string));
  expect([...tokens]).toHaveLength(1);
  return [...tokens][0];
}


/**
 * Waits until `read` (a connection read through an instance, answering its `updated_at`) shows `stamp` — a value a test
 * wrote behind Coffer's back — `times` times in a row: that instance's read model has taken in the change. Another
 * PostgreSQL instance hears of such a write only when the notification reaches it, a few milliseconds later.
 */
export async function untilStampSeen(read: () => Promise<number>, stamp: number, times = 1, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let inARow = 0;
  while (inARow < times) {
    if (Date.now() > deadline) throw new Error(`the read model did not show the change written behind its back within ${timeoutMs} ms`);
    inARow = (await read()) === stamp ? inARow + 1 : 0;
    if (inARow === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
