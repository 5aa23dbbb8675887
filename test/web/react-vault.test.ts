// Apideck's own UI against Coffer: the official @apideck/react-vault component, bundled at test start with Vite and
// served from a second origin (as in a customer's app), pointed at Coffer with `unifyBaseUrl` and a Coffer session
// token. It must list Coffer's connections and save an API-key connection that Coffer then reports callable.
// Nothing leaves 127.0.0.1: every other request the page makes is blocked and recorded.
// SQLite only: the component is a client of the Vault API, whose PostgreSQL behaviour the API suites cover.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoffer, type TestCoffer } from '../support/coffer.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve('test-output/screenshots');
const CONSUMER = 'react-vault-consumer';
type Json = any;

let coffer: TestCoffer;
let browser: Browser;
let buildDir: string;
let pageServer: http.Server;
let pageOrigin: string;

/** Bundles a page that mounts <Vault open token unifyBaseUrl/> with the token and URL read from the query string. */
async function bundlePage(): Promise<string> {
  // Inside the project (test-output/ is git-ignored) so the entry resolves packages from its node_modules.
  fs.mkdirSync(path.resolve('test-output'), { recursive: true });
  const root = fs.mkdtempSync(path.resolve('test-output/react-vault-page-'));
  fs.writeFileSync(
    path.join(root, 'index.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Customer app</title></head>
<body><h1>Customer app</h1><div id="root"></div><script type="module" src="./main.js"></script></body></html>`,
  );
  // React.createElement rather than JSX: no JSX configuration needed.
  fs.writeFileSync(
    path.join(root, 'main.js'),
    `import React from 'react';
import { createRoot } from 'react-dom/client';
import { Vault } from '@apideck/react-vault';
import '@apideck/react-vault/dist/styles.css';

const params = new URLSearchParams(location.search);
window.__vaultEvents = [];
function App() {
  const [open, setOpen] = React.useState(true);
  return React.createElement(Vault, {
    token: params.get('token'),
    unifyBaseUrl: params.get('unify'),
    open,
    showAttribution: false,
    onClose: () => { window.__vaultEvents.push('close'); setOpen(false); },
    onConnectionChange: (c) => window.__vaultEvents.push('change:' + c.unified_api + '/' + c.service_id + ':' + c.state),
  });
}
createRoot(document.getElementById('root')).render(React.createElement(App));
`,
  );
  await build({
    root,
    configFile: false,
    logLevel: 'warn',
    base: './',
    build: { outDir: path.join(root, 'dist'), emptyOutDir: true, assetsInlineLimit: 0, minify: false },
  });
  return path.join(root, 'dist');
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

async function servePage(dir: string): Promise<void> {
  pageServer = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.resolve(dir, `.${pathname === '/' ? '/index.html' : pathname}`);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
}

async function api(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(`${coffer.url}${urlPath}`, {
    method,
    headers: { ...coffer.headers(CONSUMER), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

interface Tab {
  page: Page;
  context: BrowserContext;
  blocked: string[];
  pageErrors: string[];
  failedApiCalls: string[];
}

async function openTab(url: string): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const tab: Tab = { page, context, blocked: [], pageErrors: [], failedApiCalls: [] };
  // Only 127.0.0.1 (the page's origin and Coffer's): anything else (a CDN, a font, Apideck's own hosts) is aborted.
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.protocol === 'data:' || target.protocol === 'blob:' || target.hostname === '127.0.0.1') return route.continue();
    tab.blocked.push(`${route.request().resourceType()} ${route.request().url()}`);
    return route.abort('blockedbyclient');
  });
  page.on('pageerror', (error) => tab.pageErrors.push(String(error)));
  page.on('response', (res) => {
    if (res.url().startsWith(coffer.url) && res.status() >= 400) tab.failedApiCalls.push(`${res.request().method()} ${res.url()} → ${res.status()}`);
  });
  await page.goto(url);
  return tab;
}

beforeAll(async () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is not installed (apt-get install chromium)`).toBe(true);
  fs.mkdirSync(SHOTS, { recursive: true });
  const dist = await bundlePage();
  buildDir = path.dirname(dist);
  await servePage(dist);
  coffer = await startCoffer('sqlite');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (pageServer) await new Promise<void>((resolve) => pageServer.close(() => resolve()));
  await coffer?.close();
  if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
});

describe('@apideck/react-vault against Coffer', () => {
  it('is served from another origin than Coffer', () => {
    expect(new URL(pageOrigin).origin).not.toBe(new URL(coffer.url).origin);
  });

  it('lists Coffer’s connections and saves an API-key connection that becomes callable', async () => {
    const session = await api('POST', '/vault/sessions', {});
    expect(session.status, session.text).toBe(200);
    const token: string = session.body.data.session_token;

    const listed = await api('GET', '/vault/connections');
    expect(listed.status, listed.text).toBe(200);
    const names: string[] = listed.body.data.map((c: Json) => c.name);
    expect(names).toContain('Pipedrive');
    const pipedrive = listed.body.data.find((c: Json) => c.service_id === 'pipedrive' && c.unified_api === 'crm');
    expect(pipedrive.state).toBe('available');
    const keyField = pipedrive.form_fields.find((f: Json) => f.sensitive);
    expect(keyField, 'Pipedrive has a sensitive form field').toBeTruthy();

    const tab = await openTab(`${pageOrigin}/?token=${encodeURIComponent(token)}&unify=${encodeURIComponent(coffer.url)}`);
    const { page } = tab;
    const modal = page.locator('#react-vault-content');
    // The list: every connection Coffer returned for this consumer, by name.
    await expect.poll(() => modal.getByText('Pipedrive', { exact: true }).first().isVisible(), { timeout: 15_000 }).toBe(true);
    await expect.poll(() => modal.getByText('Salesforce', { exact: true }).first().isVisible()).toBe(true);
    // One list item per connection of Coffer's GET /vault/connections, none more.
    const ids: string[] = listed.body.data.map((c: Json) => c.id);
    await expect
      .poll(async () => (await modal.locator('li[data-testid]').evaluateAll((els) => els.map((el) => el.getAttribute('data-testid')))).sort())
      .toEqual([...ids].sort());
    await page.screenshot({ path: path.join(SHOTS, 'react-vault-01-list.png'), fullPage: true });

    // Open Pipedrive: the component enables it (PATCH enabled: true) and shows its form.
    await page.getByPlaceholder('Search integrations').fill('pipedrive');
    await expect.poll(() => modal.getByText('Salesforce', { exact: true }).count()).toBe(0);
    await page.locator(`li[data-testid="${pipedrive.id}"]`).click();
    const input = page.locator(`[name="${keyField.id}"]`);
    await expect.poll(() => input.isVisible(), { timeout: 10_000 }).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'react-vault-02-form.png'), fullPage: true });
    await input.fill('pd-react-vault-token');
    await page.locator('#react-vault-content button[type="submit"]').click();

    // Coffer, read with the app's key, has the connection callable with the value saved.
    await expect.poll(async () => (await api('GET', '/vault/connections/crm/pipedrive')).body.data.state, { timeout: 10_000 }).toBe('callable');
    const saved = (await api('GET', '/vault/connections/crm/pipedrive')).body.data;
    expect(saved.enabled).toBe(true);
    expect(saved.settings[keyField.id]).toBe('********');
    // And the component shows it connected.
    await expect.poll(() => modal.getByText('Connected', { exact: true }).isVisible(), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => page.getByText('Successfully connected to Pipedrive').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'react-vault-03-saved.png'), fullPage: true });
    expect(await page.evaluate(() => (window as Json).__vaultEvents)).toContain('change:crm/pipedrive:callable');

    expect(tab.pageErrors, 'uncaught page errors').toEqual([]);
    expect(tab.failedApiCalls, 'Coffer calls that failed').toEqual([]);
    // Whatever the page tried to load from outside 127.0.0.1 was blocked and it worked without it. No script, style,
    // font or API call may come from elsewhere; an image (a connector's icon URL) is only reported.
    if (tab.blocked.length) console.info(`react-vault tried to load (blocked):\n  ${[...new Set(tab.blocked)].join('\n  ')}`);
    expect(tab.blocked.filter((r) => !r.startsWith('image ')), 'non-image requests outside 127.0.0.1').toEqual([]);
    await tab.context.close();
  }, 90_000);
});
