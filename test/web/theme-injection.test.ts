// CSS injection through the session theme, in real Chromium: a session token signed with the server's own key (as if
// the API's check at session creation had been bypassed) carries hostile theme values, and the Hosted Vault page
// must fetch nothing from the attacker's host. The host is an https listener on 127.0.0.1 (a self-signed certificate
// the browser is told to accept), so the page's CSP (`img-src https:`) would not have stopped the fetch: only the
// page's own check does. A control session with a valid https logo on the same listener shows that a fetch would
// be seen.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SignJWT } from 'jose';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_AUDIENCE, SESSION_ISSUER } from '../../src/vault/sessions.js';
import { startCoffer, type TestCoffer } from '../support/coffer.js';
import { tempDir } from '../support/oidc.js';

const CHROMIUM = '/usr/bin/chromium';
const CONSUMER = 'theme-consumer';

let coffer: TestCoffer;
let browser: Browser;
let listener: https.Server;
let hostile: string;
const received: string[] = [];

/** A self-signed certificate for 127.0.0.1, made with the system's openssl. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = tempDir('coffer-theme-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
}

/** A session token signed with the server's key, with claims the API would never have issued. */
async function forgedToken(theme: Record<string, string>): Promise<string> {
  const claims = {
    application_id: coffer.appId,
    consumer_id: CONSUMER,
    consumer_metadata: {},
    settings: { show_logs: true, session_length: '1h' },
    theme,
    data_scopes: { enabled: false },
    attribution: { hidden: true, hideable: true },
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(SESSION_ISSUER)
    .setAudience(SESSION_AUDIENCE)
    .setSubject(CONSUMER)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(coffer.runtime.ctx.keyring.sessionSigningKey);
}

/** Opens the page, waits until the list is shown and the page is idle; returns what the listener saw meanwhile. */
async function openPage(token: string): Promise<{ requests: string[]; primary: string; sideBackground: string }> {
  received.length = 0;
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(`${coffer.url}/session/${token}`);
    await expect.poll(() => page.getByRole('heading', { name: 'Integrations' }).isVisible(), { timeout: 15_000 }).toBe(true);
    await page.waitForLoadState('networkidle');
    const styles = await page.evaluate(() => {
      const root = document.documentElement.style;
      return { primary: root.getPropertyValue('--primary'), sideBackground: getComputedStyle(document.querySelector('.side')!).backgroundImage };
    });
    return { requests: [...received], ...styles };
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is not installed (apt-get install chromium)`).toBe(true);
  listener = https.createServer(selfSigned(), (req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  hostile = `https://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  coffer = await startCoffer('sqlite');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await coffer?.close();
  await new Promise((resolve) => listener?.close(resolve));
});

describe('Hosted Vault theme', () => {
  it('control: a valid https logo on the listener is fetched (the set-up can see a fetch)', async () => {
    const seen = await openPage(await forgedToken({ logo: `${hostile}/logo.png`, primary_color: '#0f766e' }));
    expect(seen.requests).toContain('GET /logo.png');
    expect(seen.primary).toBe('#0f766e');
  }, 60_000);

  it('hostile theme values in a validly signed token make the page fetch nothing from the attacker', async () => {
    const seen = await openPage(
      await forgedToken({
        primary_color: `rgb(1,2,3) url(${hostile}/primary.png)`,
        sidepanel_background_color: `#111827 url(${hostile}/side.png)`,
        sidepanel_text_color: `rgb(1, 2, 3);background-image:url(${hostile}/text.png)`,
        favicon: `https://user:pw@${hostile.slice('https://'.length)}/favicon.ico`,
        logo: `${hostile.replace('https:', 'http:')}/logo.png`,
        privacy_url: 'javascript:alert(1)',
        vault_name: '<img src=x onerror=alert(1)>'.padEnd(120, '!'),
      }),
    );
    expect(seen.requests).toEqual([]);
    // Nothing of it was applied: the page's defaults stand.
    expect(seen.primary).toBe('');
    expect(seen.sideBackground).toBe('none');
  }, 60_000);

  it('the API refuses to issue such a session in the first place', async () => {
    const res = await fetch(`${coffer.url}/vault/sessions`, {
      method: 'POST',
      headers: { ...coffer.headers(CONSUMER), 'content-type': 'application/json' },
      body: JSON.stringify({ theme: { primary_color: `rgb(1,2,3) url(${hostile}/primary.png)` } }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toContain('theme.primary_color');
  });
});
