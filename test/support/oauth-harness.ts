// Shared set-up for the OAuth suites: a real provider, a real Coffer, and black-box helpers (HTTP, the provider's
// own view of the tokens it issued, and read-only looks at the connections/outbox tables).
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { readJson } from '../../src/store/database.js';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { startCoffer, type Backend, type TestCoffer } from './coffer.js';
import { followRedirects, LOCAL_PROVIDER_ENV, startProvider, type CookieJar, tempDir, type ConnectorOptions, type ProviderOptions, type TestProvider } from './oidc.js';

export const APP_REDIRECT = 'https://app.example/oauth/done';
/** A plain OAuth client of the provider (the test itself), used to obtain tokens without Coffer. */
export const DIRECT_REDIRECT = 'https://direct-client.example/cb';

/** One token-endpoint exchange as the provider saw it. */
export interface ProviderGrant {
  grantType: string;
  /** The refresh token presented (refresh_token grant). */
  presented?: string;
  accessToken?: string;
  refreshToken?: string;
}

export interface Harness {
  provider: TestProvider;
  coffer: TestCoffer;
  /** Service ids by the name given in `connectors`. */
  services: Record<string, string>;
  /** Successful token responses of the provider, in order. */
  grants: ProviderGrant[];
  close(): Promise<void>;
}

export interface HarnessConnector extends ConnectorOptions {
  id: string;
  /** Give the application the provider's client (default true). */
  appClient?: boolean;
}

/** `files`: more connector definitions (file name → YAML) for the same connector directory. */
export async function startHarness(
  backend: Backend,
  connectors: HarnessConnector[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
  providerOptions: ProviderOptions = {},
): Promise<Harness> {
  const provider = await startProvider(providerOptions);
  const dir = tempDir('coffer-connectors-');
  const services: Record<string, string> = {};
  for (const c of connectors) services[c.id] = provider.writeConnector(dir, c);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  // No background refresher: every provider call in these suites is one a test caused.
  const coffer = await startCoffer(backend, { COFFER_CONNECTORS_DIR: dir, ...LOCAL_PROVIDER_ENV, COFFER_REFRESH_INTERVAL_SECONDS: '0', ...env });
  provider.init([`${coffer.url}/vault/callback`, DIRECT_REDIRECT]);
  const grants: ProviderGrant[] = [];
  provider.provider.on('grant.success', (ctx: any) => {
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    grants.push({
      grantType: String(ctx.oidc.params?.grant_type),
      presented: ctx.oidc.params?.refresh_token as string | undefined,
      accessToken: body.access_token as string | undefined,
      refreshToken: body.refresh_token as string | undefined,
    });
  });
  for (const c of connectors) {
    if (c.appClient === false) continue;
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, c.id, true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
  }
  await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
  return {
    provider,
    coffer,
    services,
    grants,
    async close() {
      await coffer?.close();
      await provider?.close();
    },
  };
}

export type Json = any;

export async function api(coffer: TestCoffer, consumer: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(`${coffer.url}${path}`, {
    method,
    headers: { ...coffer.headers(consumer), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

export async function getConnection(coffer: TestCoffer, consumer: string, unifiedApi: string, serviceId: string): Promise<Json> {
  const res = await api(coffer, consumer, 'GET', `/vault/connections/${unifiedApi}/${serviceId}`);
  expect(res.status, res.text).toBe(200);
  return res.body.data;
}

export const withParams = (url: string, params: Record<string, string>) =>
  `${url}${Object.entries(params).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join('')}`;

/** The browser run from an authorize_url to `stopAt`'s origin; returns the final URL and every hop. */
export async function runBrowser(start: string, stopAt = APP_REDIRECT, jar?: CookieJar) {
  const origin = new URL(stopAt).origin;
  return followRedirects(start, (url) => url.origin === origin, 20, jar);
}

/** A browser (`jar`) from an authorize_url through the provider's login up to Coffer's callback, not yet opened. */
export async function runToCallback(h: Harness, jar: CookieJar, authorizeUrl: string, redirectUri = APP_REDIRECT): Promise<URL> {
  const run = await followRedirects(withParams(authorizeUrl, { redirect_uri: redirectUri }), (url) => url.toString().startsWith(`${h.coffer.url}/vault/callback?`), 20, jar);
  expect(run.url.searchParams.get('code'), run.hops.join('\n')).toEqual(expect.any(String));
  return run.url;
}

/** A full consumer authorization through Coffer; asserts it lands on `redirectUri`. */
export async function authorize(h: Harness, consumer: string, serviceId: string, unifiedApi = 'crm', extra: Record<string, string> = {}) {
  const before = await getConnection(h.coffer, consumer, unifiedApi, serviceId);
  const redirectUri = extra.redirect_uri ?? APP_REDIRECT;
  const run = await runBrowser(withParams(before.authorize_url, { redirect_uri: redirectUri, ...extra }), redirectUri);
  expect(run.url.toString().startsWith(redirectUri), run.hops.join('\n')).toBe(true);
  return run;
}

/** What Coffer's `/credentials` hands out (API key). */
export async function credentials(coffer: TestCoffer, consumer: string, unifiedApi: string, serviceId: string) {
  return api(coffer, consumer, 'GET', `/vault/connections/${unifiedApi}/${serviceId}/credentials`);
}

export interface OutboxEvent {
  id: string;
  event_type: string;
  consumer_id: string;
  service_id: string;
  payload: Json;
  raw: string;
}

export async function outbox(coffer: TestCoffer, filter: { consumer?: string; application?: string } = {}): Promise<OutboxEvent[]> {
  let query = coffer.runtime.ctx.db.selectFrom('outbox').selectAll().where('application_id', '=', filter.application ?? coffer.appId);
  if (filter.consumer) query = query.where('consumer_id', '=', filter.consumer);
  const rows = await query.orderBy('id').execute();
  return rows.map((r) => {
    const payload = readJson<Json>(r.payload, {});
    return { id: r.id, event_type: r.event_type, consumer_id: r.consumer_id, service_id: r.service_id, payload, raw: JSON.stringify(payload) };
  });
}

/** Everything an attack could leave behind, for a before/after comparison. */
export async function snapshot(coffer: TestCoffer) {
  const db = coffer.runtime.ctx.db;
  const connections = await db.selectFrom('connections').selectAll().orderBy('id').execute();
  const events = await db.selectFrom('outbox').select(['id', 'event_type']).orderBy('id').execute();
  const confirms = await db.selectFrom('confirm_tokens').select(['token_hash', 'used_at']).orderBy('token_hash').execute();
  return { connections, events, confirms };
}

/** A browser-facing refusal: an HTML page with this status, redirecting nowhere. */
export async function expectErrorPage(res: Response, status: number, code?: string): Promise<string> {
  const body = await res.text();
  expect(res.status, body).toBe(status);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type') ?? '').toMatch(/^text\/html/);
  expect(body).toMatch(/<html/i);
  if (code) expect(body).toContain(code);
  return body;
}

export const fetchManual = (url: string) => fetch(url, { redirect: 'manual' });

function basicAuth(p: TestProvider): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(p.clientId)}:${encodeURIComponent(p.clientSecret)}`).toString('base64')}`;
}

/** A raw request to the provider's token endpoint with the client's credentials. */
export async function providerToken(p: TestProvider, params: Record<string, string>): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${p.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basicAuth(p), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: await res.json() };
}

/** RFC 7009 revocation at the provider, as the OAuth client. */
export async function providerRevoke(p: TestProvider, token: string, hint?: string): Promise<void> {
  const res = await fetch(`${p.issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: basicAuth(p), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, ...(hint ? { token_type_hint: hint } : {}) }).toString(),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** The test as its own OAuth client: an authorization-code flow straight against the provider, no Coffer involved. */
export async function directTokens(p: TestProvider): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
  const auth = new URL(`${p.issuer}/auth`);
  auth.search = new URLSearchParams({ client_id: p.clientId, response_type: 'code', redirect_uri: DIRECT_REDIRECT, scope: 'api', state: 'direct-' + Math.random() }).toString();
  const run = await followRedirects(auth.toString(), (url) => url.origin === new URL(DIRECT_REDIRECT).origin);
  const code = run.url.searchParams.get('code');
  expect(code, run.hops.join('\n')).toEqual(expect.any(String));
  const res = await providerToken(p, { grant_type: 'authorization_code', code: code!, redirect_uri: DIRECT_REDIRECT });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.refresh_token).toEqual(expect.any(String));
  return res.body;
}

/** Keys of Apideck's ConsumerConnection, the entity of every connection event. */
export const CONSUMER_CONNECTION_KEYS = [
  'auth_type', 'consumer_id', 'created_at', 'credentials_expire_at', 'enabled', 'health', 'icon', 'id', 'last_refresh_failed_at', 'logo',
  'metadata', 'name', 'service_id', 'settings', 'state', 'tag_line', 'unified_api', 'updated_at', 'website',
];

export const refreshCount = (p: TestProvider) => p.tokenRequests.refresh_token ?? 0;
