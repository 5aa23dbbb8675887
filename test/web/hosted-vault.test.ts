// The Hosted Vault (GET /session/<token>) in real Chromium: API-key and OAuth connections end to end, resource
// settings, disconnect, delete, the expired-session page, theming, 375 px, and axe-core on every screen.
// SQLite only: the page is a client of the Vault API, whose PostgreSQL behaviour the API suites cover.
import fs from 'node:fs';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, getConnection, startHarness, type Harness } from '../support/oauth-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve('test-output/screenshots');
type Json = any;

let h: Harness;
let browser: Browser;
let oauthService: string;
let consumerSeq = 0;

async function createSession(consumer: string, body: Json = {}): Promise<{ uri: string; token: string }> {
  const res = await api(h.coffer, consumer, 'POST', '/vault/sessions', body);
  expect(res.status, res.text).toBe(200);
  return { uri: res.body.data.session_uri, token: res.body.data.session_token };
}

const newConsumer = () => `hv-consumer-${++consumerSeq}`;

interface Tab {
  page: Page;
  context: BrowserContext;
  cspViolations: string[];
  pageErrors: string[];
}

async function openTab(url: string, viewport = { width: 1100, height: 800 }): Promise<Tab> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const tab: Tab = { page, context, cspViolations: [], pageErrors: [] };
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) tab.cspViolations.push(msg.text());
  });
  page.on('pageerror', (error) => tab.pageErrors.push(String(error)));
  await page.goto(url);
  return tab;
}

async function closeTab(tab: Tab) {
  expect(tab.cspViolations, 'CSP violations').toEqual([]);
  expect(tab.pageErrors, 'uncaught page errors').toEqual([]);
  await tab.context.close();
}

/** A screenshot into test-output/screenshots and an axe-core run that must find nothing. */
async function check(page: Page, name: string) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const result = await new AxeBuilder({ page }).analyze();
  const summary = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(summary, `axe violations on ${name}`).toEqual([]);
}

beforeAll(async () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is not installed (apt-get install chromium)`).toBe(true);
  fs.mkdirSync(SHOTS, { recursive: true });
  h = await startHarness('sqlite', [{ id: 'acme-crm' }]);
  oauthService = h.services['acme-crm'];
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('Hosted Vault page', () => {
  it('is served with a strict CSP, no referrer, no caching, and hashed assets under /vault-ui/assets/', async () => {
    const { uri } = await createSession(newConsumer());
    const res = await fetch(uri);
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("img-src 'self' https: data:");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    // No inline script: every <script> has a src.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const assets = [...html.matchAll(/(?:src|href)="(\/vault-ui\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    let bytes = Buffer.byteLength(html);
    for (const asset of assets) {
      const a = await fetch(`${h.coffer.url}${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('cache-control')).toContain('immutable');
      bytes += (await a.arrayBuffer()).byteLength;
    }
    // The whole page (HTML + JS + CSS, uncompressed) stays small.
    expect(bytes).toBeLessThan(80_000);
    const traversal = await fetch(`${h.coffer.url}/vault-ui/assets/..%2F..%2Fpackage.json`);
    expect(traversal.status).toBe(404);
  });

  it('connects an API-key integration: list → form (inline required error) → saved → callable via the API', async () => {
    const consumer = newConsumer();
    const { uri } = await createSession(consumer, { consumer_metadata: { account_name: 'Acme Inc', user_name: 'Ada Lovelace', email: 'ada@example.com' } });
    const tab = await openTab(uri);
    const { page } = tab;
    await expect.poll(() => page.getByRole('heading', { name: 'Integrations' }).isVisible()).toBe(true);
    await expect.poll(() => page.getByText('Ada Lovelace').isVisible()).toBe(true);
    await check(page, '01-integration-list');

    await page.getByLabel('Search integrations').fill('pipedr');
    await expect.poll(() => page.getByRole('button', { name: /^Salesforce/ }).count()).toBe(0);
    await check(page, '02-integration-list-search');
    await page.getByRole('button', { name: 'Pipedrive, Not connected' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Pipedrive', level: 1 }).isVisible()).toBe(true);
    const input = page.getByLabel('API token');
    expect(await input.getAttribute('type')).toBe('password');

    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText('API token is required').isVisible()).toBe(true);
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    await check(page, '03-api-key-form-required-error');

    await input.fill('pd-secret-token');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText('Saved.').isVisible()).toBe(true);
    await expect.poll(() => page.locator('.detail-head .badge').textContent()).toBe('Connected');
    // The form shows the stored secret masked, never the value.
    expect(await page.getByLabel('API token').inputValue()).toBe('********');
    await check(page, '04-api-key-connected');

    const connection = await getConnection(h.coffer, consumer, 'crm', 'pipedrive');
    expect(connection.state).toBe('callable');
    expect(connection.enabled).toBe(true);

    // Disable and enable again.
    await page.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => page.getByText('Integration disabled.').isVisible()).toBe(true);
    expect((await getConnection(h.coffer, consumer, 'crm', 'pipedrive')).enabled).toBe(false);
    await check(page, '05-api-key-disabled');
    await page.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => page.getByText('Integration enabled.').isVisible()).toBe(true);
    expect((await getConnection(h.coffer, consumer, 'crm', 'pipedrive')).enabled).toBe(true);

    // Delete, with a confirmation dialog (Cancel first, from the keyboard).
    await page.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByRole('dialog', { name: 'Delete Pipedrive?' }).isVisible()).toBe(true);
    await check(page, '06-delete-confirmation');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect((await getConnection(h.coffer, consumer, 'crm', 'pipedrive')).state).toBe('callable');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByText('Pipedrive was deleted.').isVisible()).toBe(true);
    expect((await getConnection(h.coffer, consumer, 'crm', 'pipedrive')).state).toBe('available');
    await check(page, '07-after-delete');
    await closeTab(tab);
  }, 120_000);

  it('connects an OAuth integration through the provider and returns to the page; then disconnects it', async () => {
    const consumer = newConsumer();
    const { uri } = await createSession(consumer, { settings: { unified_apis: ['crm'] } });
    const tab = await openTab(uri);
    const { page } = tab;
    await page.getByLabel('Search integrations').fill('acme');
    const name = (await getConnection(h.coffer, consumer, 'crm', oauthService)).name as string;
    await page.getByRole('button', { name: `${name}, Not connected` }).click();
    await expect.poll(() => page.getByRole('button', { name: `Authorize ${name}` }).isVisible()).toBe(true);
    await check(page, '08-oauth-detail-before');

    await page.getByRole('button', { name: `Authorize ${name}` }).click();
    // Coffer → provider (auto-login and consent) → Coffer callback → back to this very page.
    await page.waitForURL((url) => url.toString() === uri, { timeout: 20_000 });
    await expect.poll(() => page.locator('.detail-head .badge').textContent(), { timeout: 10_000 }).toBe('Connected');
    expect((await getConnection(h.coffer, consumer, 'crm', oauthService)).state).toBe('callable');
    await check(page, '09-oauth-connected');

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await expect.poll(() => page.getByRole('dialog', { name: `Disconnect ${name}?` }).isVisible()).toBe(true);
    await page.getByRole('dialog').getByRole('button', { name: 'Disconnect' }).click();
    await page.waitForURL((url) => url.toString() === uri, { timeout: 20_000 });
    await expect.poll(async () => (await getConnection(h.coffer, consumer, 'crm', oauthService)).state).not.toBe('callable');
    await expect.poll(() => page.getByRole('button', { name: `Authorize ${name}` }).isVisible()).toBe(true);
    await check(page, '10-oauth-disconnected');
    await closeTab(tab);
  }, 90_000);

  it('edits resource settings (Salesforce leads)', async () => {
    const consumer = newConsumer();
    const imported = await api(h.coffer, consumer, 'POST', '/vault/connections/crm/salesforce/import', {
      credentials: { access_token: 'sf-access', refresh_token: 'sf-refresh', expires_in: 3600 },
      settings: { instance_url: 'https://acme.my.salesforce.com' },
    });
    expect(imported.status, imported.text).toBe(200);
    const { uri } = await createSession(consumer);
    const tab = await openTab(uri);
    const { page } = tab;
    await page.getByLabel('Search integrations').fill('salesforce');
    await page.getByRole('region', { name: 'CRM' }).getByRole('button', { name: /^Salesforce, / }).click();
    await page.getByRole('tab', { name: 'Settings' }).click();
    await page.getByLabel('Resource', { exact: true }).selectOption('leads');
    const source = page.getByLabel('Default lead source');
    await expect.poll(() => source.inputValue()).toBe('Web');
    await check(page, '11-resource-settings');
    await source.selectOption('Partner Referral');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => page.getByText('Settings for leads saved.').isVisible()).toBe(true);
    const config = await api(h.coffer, consumer, 'GET', '/vault/connections/crm/salesforce/leads/config');
    const defaults = config.body.data.configuration.find((c: Json) => c.resource === 'leads').defaults;
    expect(defaults.find((d: Json) => d.id === 'default_lead_source').value).toBe('Partner Referral');

    await page.getByRole('tab', { name: 'Logs' }).click();
    await expect.poll(() => page.getByRole('tabpanel').textContent()).toMatch(/No API calls|Latest requests/);
    await check(page, '12-logs');
    await closeTab(tab);
  }, 60_000);

  it('hides resource settings, logs and actions when the session says so', async () => {
    const consumer = newConsumer();
    await api(h.coffer, consumer, 'POST', '/vault/connections/crm/salesforce/import', { credentials: { access_token: 'sf-access' } });
    const { uri } = await createSession(consumer, { settings: { hide_resource_settings: true, show_logs: false, allow_actions: [] } });
    const tab = await openTab(uri);
    await tab.page.getByLabel('Search integrations').fill('salesforce');
    await tab.page.getByRole('region', { name: 'CRM' }).getByRole('button', { name: /^Salesforce, / }).click();
    await expect.poll(() => tab.page.getByRole('heading', { name: 'Salesforce', level: 1 }).isVisible()).toBe(true);
    expect(await tab.page.getByRole('tab').count()).toBe(0);
    expect(await tab.page.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    expect(await tab.page.getByRole('button', { name: 'Disable' }).count()).toBe(0);
    await closeTab(tab);
  });

  it('shows a clear page for an expired session and for a token the API rejects', async () => {
    const { uri } = await createSession(newConsumer(), { settings: { session_length: '1s' } });
    await new Promise((r) => setTimeout(r, 1_500));
    const tab = await openTab(uri);
    await expect.poll(() => tab.page.getByRole('heading', { name: 'This link has expired' }).isVisible()).toBe(true);
    await check(tab.page, '13-expired-session');
    await tab.context.close();

    // Looks fine to the page (not expired), but the signature is wrong: the API answers 401.
    const good = await createSession(newConsumer());
    const [head, payload, signature] = good.token.split('.');
    const forged = `${head}.${payload}.${signature.slice(0, -4)}AAAA`;
    const tab2 = await openTab(`${h.coffer.url}/session/${forged}`);
    await expect.poll(() => tab2.page.getByRole('heading', { name: 'This link has expired' }).isVisible()).toBe(true);
    await expect.poll(() => tab2.page.getByText('Invalid session token').isVisible()).toBe(true);
    await tab2.context.close();
  });

  it('applies the session theme and works at 375 px wide', async () => {
    const consumer = newConsumer();
    const { uri } = await createSession(consumer, {
      redirect_uri: 'https://app.example/settings',
      settings: { sandbox_mode: true },
      theme: {
        primary_color: '#0f766e',
        sidepanel_background_color: '#111827',
        sidepanel_text_color: '#f9fafb',
        vault_name: 'Acme Integrations',
        privacy_url: 'https://app.example/privacy',
        terms_url: 'https://app.example/terms',
      },
      consumer_metadata: { account_name: 'Acme Inc', user_name: 'Ada Lovelace' },
    });
    const tab = await openTab(uri, { width: 375, height: 740 });
    const { page } = tab;
    await expect.poll(() => page.getByRole('heading', { name: 'Integrations' }).isVisible()).toBe(true);
    expect(await page.title()).toBe('Acme Integrations – Connections');
    expect(await page.locator('.vault-name').textContent()).toBe('Acme Integrations');
    const side = await page.locator('.side').evaluate((el) => {
      const s = getComputedStyle(el);
      return { bg: s.backgroundColor, color: s.color };
    });
    expect(side).toEqual({ bg: 'rgb(17, 24, 39)', color: 'rgb(249, 250, 251)' });
    expect(await page.getByRole('link', { name: 'Back to the application' }).getAttribute('href')).toBe('https://app.example/settings');
    expect(await page.getByRole('link', { name: 'Privacy policy' }).getAttribute('href')).toBe('https://app.example/privacy');
    await expect.poll(() => page.getByText('Sandbox mode').isVisible()).toBe(true);
    // No horizontal scrolling at 375 px.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await check(page, '14-themed-mobile-list');

    // Keyboard only: Tab to the search box, type, Tab to the first card, Enter.
    await page.getByLabel('Search integrations').focus();
    await page.keyboard.type('pipedrive');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('heading', { name: 'Pipedrive', level: 1 }).isVisible()).toBe(true);
    const button = await page.getByRole('button', { name: 'Save' }).evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(button).toBe('rgb(15, 118, 110)');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await check(page, '15-themed-mobile-detail');
    await closeTab(tab);
  }, 60_000);
});
