// CORS: the Vault UIs call Coffer from the customer's origin with a session JWT; preflight, headers and a real browser.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';

type Json = Record<string, any>;

const CHROMIUM = '/usr/bin/chromium';
const CUSTOMER_ORIGIN = 'http://customer.example';
const ALLOWED_ORIGIN = 'http://allowed.example';
const REQUESTED_HEADERS = ['authorization', 'content-type', 'x-apideck-app-id', 'x-apideck-consumer-id', 'x-apideck-auth-type'];
const CONSUMER = 'browser-consumer';

const headerList = (value: string | null) =>
  (value ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);

// ---- a tiny page server (another port = another origin) and one shared browser ----

interface PageCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** Serves `/?id=<n>`: a page whose script runs the calls registered under <n> and leaves the outcome in window.__result. */
class PageServer {
  private readonly pages = new Map<string, PageCall[]>();
  private server!: http.Server;
  origin = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
      const calls = this.pages.get(id);
      if (!calls) {
        res.writeHead(404).end();
        return;
      }
      const script = `
        (async () => {
          const calls = ${JSON.stringify(calls)};
          const out = [];
          for (const call of calls) {
            try {
              const res = await fetch(call.url, { method: call.method, headers: call.headers, body: call.body, mode: 'cors' });
              out.push({ status: res.status, body: await res.text() });
            } catch (error) {
              out.push({ error: String(error) });
            }
          }
          document.getElementById('out').textContent = JSON.stringify(out);
          window.__result = out;
        })();`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>customer app</title></head><body><pre id="out"></pre><script>${script}</script></body></html>`);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  page(calls: PageCall[]): string {
    const id = String(this.pages.size + 1);
    this.pages.set(id, calls);
    return `${this.origin}/?id=${id}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let browser: Browser | null = null;
let page: Page | null = null;

/** One browser and one tab for the whole file (starting either costs seconds on a busy CI machine). */
async function getPage(): Promise<Page> {
  // CI installs chromium: a missing binary is a failure, not a skip.
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is not installed (apt-get install chromium)`).toBe(true);
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page ??= await (await browser.newContext()).newPage();
  return page;
}

/** Opens `url` and returns what the page's script reported. */
async function runPage(url: string): Promise<Array<{ status?: number; body?: string; error?: string }>> {
  const tab = await getPage();
  await tab.goto(url);
  await tab.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 10_000 });
  return (await tab.evaluate(() => (window as unknown as { __result: unknown }).__result)) as Array<{ status?: number; body?: string; error?: string }>;
}

afterAll(async () => {
  await browser?.close();
});

describe.each(backends)('CORS (%s)', (backend) => {
  let coffer: TestCoffer;
  /** Only `http://allowed.example` and the first page server's origin may call it. */
  let restricted: TestCoffer;
  const pages = new PageServer();
  const otherPages = new PageServer();
  let token: string;
  let restrictedToken: string;

  async function createSession(target: TestCoffer): Promise<string> {
    const res = await fetch(`${target.url}/vault/sessions`, {
      method: 'POST',
      headers: { ...target.headers(CONSUMER), 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return (JSON.parse(text) as Json).data.session_token;
  }

  const sessionHeaders = (jwt: string, appId: string) => ({
    Authorization: `Bearer ${jwt}`,
    'X-APIDECK-AUTH-TYPE': 'JWT',
    'X-APIDECK-APP-ID': appId,
    'X-APIDECK-CONSUMER-ID': CONSUMER,
  });

  const preflight = (target: TestCoffer, origin: string, path = '/vault/connections', method = 'GET') =>
    fetch(`${target.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': REQUESTED_HEADERS.join(','),
      },
    });

  beforeAll(async () => {
    await pages.start();
    await otherPages.start();
    coffer = await startCoffer(backend);
    restricted = await startCoffer(backend, { COFFER_CORS_ORIGINS: `${ALLOWED_ORIGIN},${pages.origin}` });
    const seed = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, {
      method: 'PATCH',
      headers: { ...coffer.headers(CONSUMER), 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { api_key: 'pd-browser' } }),
    });
    expect(seed.status).toBe(200);
    token = await createSession(coffer);
    restrictedToken = await createSession(restricted);
  });
  afterAll(async () => {
    await coffer?.close();
    await restricted?.close();
    await pages.close();
    await otherPages.close();
  });

  it('answers a preflight from any origin with 204 and the Vault headers allowed', async () => {
    for (const [path, method] of [
      ['/vault/connections', 'GET'],
      ['/vault/connections/crm/pipedrive', 'PATCH'],
      ['/vault/connections/crm/pipedrive', 'DELETE'],
      ['/vault/connections/crm/pipedrive/validate', 'POST'],
      ['/vault/logs', 'GET'],
    ]) {
      const res = await preflight(coffer, CUSTOMER_ORIGIN, path, method);
      expect(res.status, `${method} ${path}`).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(CUSTOMER_ORIGIN);
      const allowed = headerList(res.headers.get('access-control-allow-headers'));
      for (const h of REQUESTED_HEADERS) expect(allowed, h).toContain(h);
      expect(headerList(res.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase());
      expect(res.headers.get('vary') ?? '').toMatch(/origin/i);
      expect(await res.text()).toBe('');
    }
  });

  it('sets access-control-allow-origin on an actual call with a session JWT', async () => {
    const res = await fetch(`${coffer.url}/vault/connections`, { headers: { ...sessionHeaders(token, coffer.appId), origin: CUSTOMER_ORIGIN } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(CUSTOMER_ORIGIN);
    expect(res.headers.get('vary') ?? '').toMatch(/origin/i);
    const pipedrive = (JSON.parse(text) as Json).data.find((c: Json) => c.id === 'crm+pipedrive');
    expect(pipedrive.state).toBe('callable');

    // Errors carry the header too, so the browser can read the envelope.
    const denied = await fetch(`${coffer.url}/vault/consumers`, { headers: { ...sessionHeaders(token, coffer.appId), origin: CUSTOMER_ORIGIN } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('access-control-allow-origin')).toBe(CUSTOMER_ORIGIN);
    expect((await denied.json()).type_name).toBe('ForbiddenError');
  });

  it('with COFFER_CORS_ORIGINS, only the listed origins are allowed', async () => {
    const ok = await preflight(restricted, ALLOWED_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    for (const h of REQUESTED_HEADERS) expect(headerList(ok.headers.get('access-control-allow-headers'))).toContain(h);

    for (const origin of [CUSTOMER_ORIGIN, 'http://allowed.example.evil.test', 'https://allowed.example', otherPages.origin]) {
      const res = await preflight(restricted, origin);
      expect(res.status).toBeLessThan(500);
      // No allow-origin header at all, or one naming another origin: either way the browser refuses.
      expect([origin, '*'], origin).not.toContain(res.headers.get('access-control-allow-origin'));

      const actual = await fetch(`${restricted.url}/vault/connections`, { headers: { ...sessionHeaders(restrictedToken, restricted.appId), origin } });
      expect(actual.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
    const actual = await fetch(`${restricted.url}/vault/connections`, { headers: { ...sessionHeaders(restrictedToken, restricted.appId), origin: ALLOWED_ORIGIN } });
    expect(actual.status).toBe(200);
    expect(actual.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
  });

  it('a real browser on another origin reads and writes connections with the session JWT', async () => {
    const headers = sessionHeaders(token, coffer.appId);
    const url = pages.page([
      { url: `${coffer.url}/vault/connections`, method: 'GET', headers },
      {
        url: `${coffer.url}/vault/connections/crm/pipedrive`,
        method: 'PATCH',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ enabled: false }),
      },
      { url: `${coffer.url}/vault/connections/crm/pipedrive/validate`, method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' } },
      // Without the app id header, as vault-core's first calls do.
      { url: `${coffer.url}/vault/connections/crm/pipedrive`, method: 'GET', headers: { Authorization: headers.Authorization, 'X-APIDECK-AUTH-TYPE': 'JWT' } },
      // An error envelope is readable too.
      { url: `${coffer.url}/vault/consumers`, method: 'GET', headers },
    ]);
    expect(new URL(url).origin).not.toBe(new URL(coffer.url).origin);
    const [list, patch, validate, one, denied] = await runPage(url);

    expect(list.error).toBeUndefined();
    expect(list.status).toBe(200);
    const connections = (JSON.parse(list.body!) as Json).data as Json[];
    expect(connections.find((c) => c.id === 'crm+pipedrive')?.state).toBe('callable');

    expect(patch.error).toBeUndefined();
    expect(patch.status).toBe(200);
    expect((JSON.parse(patch.body!) as Json).data.enabled).toBe(false);

    expect(validate.status).toBe(200);
    expect((JSON.parse(validate.body!) as Json).data).toEqual({ id: 'crm+pipedrive', state: 'callable' });

    expect(one.status).toBe(200);
    expect((JSON.parse(one.body!) as Json).data.enabled).toBe(false);

    expect(denied.status).toBe(403);
    expect((JSON.parse(denied.body!) as Json).type_name).toBe('ForbiddenError');

    // The browser's write landed.
    const check = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { headers: coffer.headers(CONSUMER) });
    expect((await check.json()).data.enabled).toBe(false);
  });

  it('a real browser on an origin outside COFFER_CORS_ORIGINS is blocked; a listed one is not', async () => {
    const calls = (extra: Record<string, string> = {}): PageCall[] => [
      { url: `${restricted.url}/vault/connections`, method: 'GET', headers: { ...sessionHeaders(restrictedToken, restricted.appId), ...extra } },
      {
        url: `${restricted.url}/vault/connections/project-management/jsonplaceholder`,
        method: 'PATCH',
        headers: { ...sessionHeaders(restrictedToken, restricted.appId), 'Content-Type': 'application/json' },
        body: JSON.stringify({ enabled: true }),
      },
    ];
    const [blockedGet, blockedPatch] = await runPage(otherPages.page(calls()));
    expect(blockedGet.error).toMatch(/Failed to fetch/);
    expect(blockedPatch.error).toMatch(/Failed to fetch/);
    // The blocked preflight kept the PATCH from ever reaching the server.
    const none = await fetch(`${restricted.url}/vault/connections/project-management/jsonplaceholder`, { headers: restricted.headers(CONSUMER) });
    expect((await none.json()).data.state).toBe('available');

    const [allowedGet, allowedPatch] = await runPage(pages.page(calls()));
    expect(allowedGet.error).toBeUndefined();
    expect(allowedGet.status).toBe(200);
    expect(allowedPatch.status).toBe(200);
    const made = await fetch(`${restricted.url}/vault/connections/project-management/jsonplaceholder`, { headers: restricted.headers(CONSUMER) });
    expect((await made.json()).data.state).toBe('callable');
  });
});
