// Rate limits as an attacker and a customer see them: floods of bad credentials end in 429s (per address, per
// application), an application's own request limit set with the CLI, and neither ever slows anyone else.
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cliChildren, runCli } from '../support/cli.js';
import { expectErrorEnvelope, okJson, type Json } from '../support/envelope.js';
import { flowsCall, managementToken } from '../support/flows.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';

type App = { application_id: string; api_key: string };

const CONSUMER = 'rate-limit-consumer';

function keyHeaders(appId: string, apiKey: string): Record<string, string> {
  return { authorization: `Bearer ${apiKey}`, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': CONSUMER };
}

const badKey = () => `cof_${crypto.randomBytes(32).toString('base64url')}`;

const sessionHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'x-apideck-auth-type': 'JWT' });

function get(coffer: TestCoffer, path: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${coffer.url}${path}`, { headers });
}

/** A session JWT naming `appId`, signed with a key the server does not have. */
function forgedSession(appId: string): Promise<string> {
  return new SignJWT({ application_id: appId, consumer_id: CONSUMER })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('coffer')
    .setAudience('coffer:session')
    .setExpirationTime('1h')
    .sign(crypto.randomBytes(32));
}

/** Asserts a 429 envelope with the rate-limit headers; returns the body and Retry-After in seconds. */
async function expectTooMany(res: Response, limit: number, scope: string): Promise<{ body: Json; retryAfter: number }> {
  const { body } = await expectErrorEnvelope(res, 429, 'TooManyRequestsError');
  expect(body.error).toBe('Too Many Requests');
  expect(body.detail).toMatchObject({ limit, scope });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(res.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
  expect(Number(res.headers.get('x-ratelimit-reset'))).toBe(retryAfter);
  return { body, retryAfter };
}

async function expectUnauthorized(res: Response): Promise<void> {
  await expectErrorEnvelope(res, 401, 'UnauthorizedError');
}

/** Calls `attempt` every 100 ms until `done` says yes; fails after `timeoutMs`. */
async function until(attempt: () => Promise<Response>, done: (res: Response) => boolean, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await attempt();
    if (done(res)) return res;
    await res.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`still ${res.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const running = new Set<TestCoffer>();

async function start(backend: (typeof backends)[number], env: Record<string, string>): Promise<TestCoffer> {
  const coffer = await startCoffer(backend, env);
  running.add(coffer);
  return coffer;
}

afterEach(async () => {
  await Promise.all([...running].map((coffer) => coffer.close()));
  running.clear();
});

afterAll(() => {
  for (const child of cliChildren) child.kill('SIGKILL');
});

describe.each(backends)('rate limits (%s)', (backend) => {
  it('a flood of bad API keys from one address ends in 429s, for good keys too, until the window passes', async () => {
    const coffer = await start(backend, {
      COFFER_AUTH_FAILURE_LIMIT_PER_IP: '5',
      COFFER_AUTH_FAILURE_LIMIT_PER_APP: '0',
      COFFER_AUTH_FAILURE_WINDOW_SECONDS: '2',
    });
    const good = () => get(coffer, '/vault/connections', coffer.headers(CONSUMER));
    await okJson(await good());
    for (let i = 0; i < 5; i++) await expectUnauthorized(await get(coffer, '/vault/connections', keyHeaders(coffer.appId, badKey())));

    const { body, retryAfter } = await expectTooMany(await get(coffer, '/vault/connections', keyHeaders(coffer.appId, badKey())), 5, 'address');
    expect(body.message).toMatch(/^Too many failed authentication attempts from this address; retry in \d+ s$/);
    expect(retryAfter).toBeLessThanOrEqual(2);
    // Refused before any key is checked: the right key from this address waits too.
    await expectTooMany(await good(), 5, 'address');
    // A browser caller (a Vault UI on another origin) may read when to retry.
    const fromBrowser = await get(coffer, '/vault/connections', { ...coffer.headers(CONSUMER), origin: 'https://app.example' });
    await expectTooMany(fromBrowser, 5, 'address');
    expect(fromBrowser.headers.get('access-control-expose-headers')?.toLowerCase().split(/\s*,\s*/)).toEqual(
      expect.arrayContaining(['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']),
    );
    // Unauthenticated routes are not limited.
    expect((await fetch(`${coffer.url}/health`)).status).toBe(200);

    // Once Retry-After has passed, the address is let in again and a bad key is a plain 401.
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    const back = await until(good, (res) => res.status !== 429, 3_000);
    await okJson(back);
    await expectUnauthorized(await get(coffer, '/vault/connections', keyHeaders(coffer.appId, badKey())));
  });

  it('bad keys naming application A lock A (even its good key) and leave application B alone', async () => {
    const coffer = await start(backend, {
      COFFER_AUTH_FAILURE_LIMIT_PER_IP: '0',
      COFFER_AUTH_FAILURE_LIMIT_PER_APP: '4',
      COFFER_AUTH_FAILURE_WINDOW_SECONDS: '60',
    });
    const a: App = { application_id: coffer.appId, api_key: coffer.apiKey };
    const b = await coffer.createApp();
    for (let i = 0; i < 4; i++) await expectUnauthorized(await get(coffer, '/vault/connections', keyHeaders(a.application_id, badKey())));

    const { body } = await expectTooMany(await get(coffer, '/vault/connections', keyHeaders(a.application_id, a.api_key)), 4, 'application');
    expect(body.message).toMatch(/^Too many failed authentication attempts for this application; retry in \d+ s$/);
    // Same address, another application: its good key works and its bad keys are 401s, not 429s.
    const ok = await get(coffer, '/vault/connections', keyHeaders(b.application_id, b.api_key));
    expect(ok.headers.get('x-ratelimit-limit')).toBeNull();
    await okJson(ok);
    await expectUnauthorized(await get(coffer, '/vault/connections', keyHeaders(b.application_id, badKey())));
  });

  it('invalid session tokens count against the application they claim', async () => {
    const coffer = await start(backend, {
      COFFER_AUTH_FAILURE_LIMIT_PER_IP: '0',
      COFFER_AUTH_FAILURE_LIMIT_PER_APP: '3',
      COFFER_AUTH_FAILURE_WINDOW_SECONDS: '60',
    });
    const b = await coffer.createApp();
    const session = await okJson(await fetch(`${coffer.url}/vault/sessions`, { method: 'POST', headers: coffer.headers(CONSUMER) }));
    const token: string = session.data.session_token;
    await okJson(await get(coffer, '/vault/connections', sessionHeaders(token)));

    for (let i = 0; i < 3; i++) await expectUnauthorized(await get(coffer, '/vault/connections', sessionHeaders(await forgedSession(coffer.appId))));
    await expectTooMany(await get(coffer, '/vault/connections', sessionHeaders(token)), 3, 'application');
    await expectTooMany(await get(coffer, '/vault/connections', coffer.headers(CONSUMER)), 3, 'application');
    await okJson(await get(coffer, '/vault/connections', keyHeaders(b.application_id, b.api_key)));
  });

  it('the Flows Vault API counts bad Management API tokens and answers 429 in Auth0 shape', async () => {
    const coffer = await start(backend, {
      COFFER_AUTH_FAILURE_LIMIT_PER_IP: '3',
      COFFER_AUTH_FAILURE_LIMIT_PER_APP: '0',
      COFFER_AUTH_FAILURE_WINDOW_SECONDS: '60',
    });
    const token = await managementToken(coffer);
    expect((await flowsCall(coffer, token, 'GET')).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await flowsCall(coffer, `${token.slice(0, -4)}AAAA`, 'GET');
      expect(res.status, res.text).toBe(401);
    }
    const refused = await flowsCall(coffer, token, 'GET');
    expect(refused.status, refused.text).toBe(429);
    expect(refused.json).toEqual({ statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/^Too many failed authentication attempts from this address; retry in \d+ s$/), errorCode: 'too_many_requests' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-limit')).toBe('3');
    // The same address is refused on the Apideck API too: one counter per address.
    await expectTooMany(await get(coffer, '/vault/connections', coffer.headers(CONSUMER)), 3, 'address');
  });

  it('an application limit set with the CLI ends in 429 once exceeded, for keys, sessions and Flows tokens; no one else is affected', async () => {
    const coffer = await start(backend, {});
    const cliEnv = {
      COFFER_DATA_DIR: coffer.dataDir,
      COFFER_MASTER_KEY: coffer.masterKey,
      ...(coffer.databaseUrl ? { DATABASE_URL: coffer.databaseUrl } : {}),
    };
    const b = await coffer.createApp();
    const session = await okJson(await fetch(`${coffer.url}/vault/sessions`, { method: 'POST', headers: coffer.headers(CONSUMER) }));

    const set = await runCli(['app', 'set', '--app', coffer.appId, '--rate-limit', '3', '--json'], cliEnv);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ application_id: coffer.appId, rate_limit_per_minute: 3 });

    // Calls made before this server heard of the change carry no limit headers; then 3 pass and the 4th is refused.
    const counted: string[] = [];
    const call = () => get(coffer, '/vault/connections', coffer.headers(CONSUMER));
    const refused = await until(
      call,
      (res) => {
        if (res.status === 200 && res.headers.get('x-ratelimit-limit') === '3') counted.push(res.headers.get('x-ratelimit-remaining')!);
        return res.status !== 200;
      },
      5_000,
    );
    expect(counted).toEqual(['2', '1', '0']);
    const { body } = await expectTooMany(refused, 3, 'application_requests');
    expect(body.message).toMatch(new RegExp(`^Application ${coffer.appId} is over its limit of 3 requests per minute; retry in \\d+ s$`));
    await expectTooMany(await get(coffer, '/vault/connections', sessionHeaders(session.data.session_token)), 3, 'application_requests');
    const flows = await flowsCall(coffer, await managementToken(coffer), 'GET');
    expect(flows.status, flows.text).toBe(429);
    expect(flows.json.errorCode).toBe('too_many_requests');

    // Another application, the health probes and the Hosted Vault page are not limited.
    for (let i = 0; i < 5; i++) {
      const other = await get(coffer, '/vault/connections', keyHeaders(b.application_id, b.api_key));
      expect(other.headers.get('x-ratelimit-limit')).toBeNull();
      await okJson(other);
    }
    expect((await fetch(`${coffer.url}/health`)).status).toBe(200);
    expect((await fetch(`${coffer.url}/ready`)).status).toBe(200);
    expect((await fetch(`${coffer.url}/session/${session.data.session_token}`)).status).toBe(200);

    // `--rate-limit off` lifts it.
    const off = await runCli(['app', 'set', '--app', coffer.appId, '--rate-limit', 'off'], cliEnv);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toBe(`Rate limit of ${coffer.appId}: none\n`);
    const lifted = await until(call, (res) => res.status === 200, 5_000);
    expect(lifted.headers.get('x-ratelimit-limit')).toBeNull();
    await okJson(lifted);
  });

  it('by default a good key is never limited and a bad-key flood is cut at 30 failures', async () => {
    const coffer = await start(backend, { COFFER_AUTH_FAILURE_LIMIT_PER_IP: '', COFFER_AUTH_FAILURE_LIMIT_PER_APP: '' });
    for (let i = 0; i < 100; i++) {
      const res = await get(coffer, '/vault/connections', coffer.headers(CONSUMER));
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBeNull();
      await res.arrayBuffer();
    }
    for (let i = 0; i < 30; i++) await expectUnauthorized(await get(coffer, '/vault/connections', keyHeaders(coffer.appId, badKey())));
    const { body } = await expectTooMany(await get(coffer, '/vault/connections', keyHeaders(coffer.appId, badKey())), 30, 'address');
    expect(body.detail.window_seconds).toBe(60);
  });
});

describe('rate-limit settings', () => {
  it('an invalid value stops start-up with one line; the CLI refuses a bad --rate-limit', async () => {
    const bad = await runCli(['serve', '--port', '0'], { COFFER_AUTH_FAILURE_LIMIT_PER_IP: 'lots', HOST: '127.0.0.1' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('coffer: COFFER_AUTH_FAILURE_LIMIT_PER_IP must be a non-negative integer, got "lots"\n');
    const window = await runCli(['serve', '--port', '0'], { COFFER_AUTH_FAILURE_WINDOW_SECONDS: '0', HOST: '127.0.0.1' });
    expect(window.stderr).toBe('coffer: COFFER_AUTH_FAILURE_WINDOW_SECONDS must be at least 1\n');

    const coffer = await start('sqlite', {});
    const env = { COFFER_DATA_DIR: coffer.dataDir, COFFER_MASTER_KEY: coffer.masterKey };
    for (const value of ['fast', '2.5', '1000001']) {
      const res = await runCli(['app', 'set', '--app', coffer.appId, '--rate-limit', value], env);
      expect(res.code, value).toBe(1);
      expect(res.stderr).toBe('coffer: --rate-limit must be a whole number of requests per minute from 1 to 1000000, or 0/off for none\n');
    }
  });
});
