// An OAuth connection (token from a real authorization-code flow against a real OAuth server) proxied to a real
// upstream: a provider 401 makes exactly one refresh, shared by concurrent calls, and each call is retried once with
// the new token and the same body; a body too large to replay is not retried, but the token is refreshed.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConnectorEnabled, setRedirectUris } from '../../src/vault/applications.js';
import { refreshCount } from '../support/oauth-harness.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';
import { followRedirects, oauthConnectorFor, startProvider, type TestProvider } from '../support/oidc.js';
import { startProxyUpstream, type ProxyUpstream } from '../support/proxy-upstream.js';
import { writeConnectorDir } from '../support/upstream.js';
import { proxyHeaders } from './support.js';

const APP_REDIRECT = 'https://app.example/oauth/done';

const oauthConnector = (upstream: string, issuer: string) => oauthConnectorFor(issuer, { id: 'px-oauth', name: 'OAuth CRM', apiBaseUrl: `${upstream}/oauth` });

describe.each(backends)('proxy with an OAuth connection (%s)', (backend) => {
  let upstream: ProxyUpstream;
  let provider: TestProvider;
  let coffer: TestCoffer;
  let dir: string;
  const consumer = 'oauth-proxied';
  const refused = new Set<string>();

  const token = async () => (await okJson(await fetch(`${coffer.url}/vault/connections/crm/px-oauth/credentials`, { headers: coffer.headers(consumer) }))).data.access_token as string;
  const post = (body: string) =>
    fetch(`${coffer.url}/proxy`, { method: 'POST', headers: { ...proxyHeaders(coffer, consumer, 'px-oauth', `${upstream.url}/oauth/echo`), 'content-type': 'text/plain' }, body });

  beforeAll(async () => {
    upstream = await startProxyUpstream();
    upstream.accepts = (credential) => credential !== null && !refused.has(credential);
    provider = await startProvider();
    dir = writeConnectorDir('coffer-proxy-oauth-', [oauthConnector(upstream.url, provider.issuer)]);
    coffer = await startCoffer(backend, {
      COFFER_CONNECTORS_DIR: dir,
      COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true',
      COFFER_ALLOW_INSECURE_PROVIDERS: 'true',
      COFFER_REFRESH_INTERVAL_SECONDS: '0',
    });
    provider.init([`${coffer.url}/vault/callback`]);
    await setConnectorEnabled(coffer.runtime.ctx, coffer.appId, 'px-oauth', true, { clientId: provider.clientId, clientSecret: provider.clientSecret });
    await setRedirectUris(coffer.runtime.ctx, coffer.appId, [APP_REDIRECT]);
    const before = await okJson(await fetch(`${coffer.url}/vault/connections/crm/px-oauth`, { headers: coffer.headers(consumer) }));
    const done = await followRedirects(`${before.data.authorize_url}&redirect_uri=${encodeURIComponent(APP_REDIRECT)}`, (url) => url.origin === 'https://app.example');
    expect(done.url.toString()).toBe(APP_REDIRECT);
  });
  afterAll(async () => {
    await coffer?.close();
    await provider?.close();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a provider 401 causes one refresh for 5 concurrent calls; each is retried once with the new token and its body', async () => {
    const first = await token();
    const ok = await okJson(await post('warm-up'));
    expect(ok.headers.authorization).toBe(`Bearer ${first}`);
    upstream.take();

    refused.add(first);
    const refreshesBefore = refreshCount(provider);
    const bodies = ['one', 'two', 'three', 'four', 'five'].map((n) => `body ${n}`);
    const answers = await Promise.all(bodies.map(async (body) => okJson(await post(body))));
    expect(refreshCount(provider)).toBe(refreshesBefore + 1);
    const second = await token();
    expect(second).not.toBe(first);
    expect(answers.map((a) => a.body).sort()).toEqual([...bodies].sort());
    for (const answer of answers) expect(answer.headers.authorization).toBe(`Bearer ${second}`);
    const seen = upstream.take();
    // A call that read the connection after the refresh goes out with the new token straight away.
    const refusedCalls = seen.filter((s) => s.credential === first).length;
    expect(refusedCalls).toBeGreaterThanOrEqual(1);
    expect(seen.filter((s) => s.credential === second)).toHaveLength(5);
    expect(seen).toHaveLength(5 + refusedCalls);
  });

  it('a body over the replay limit streams; its 401 comes back unchanged, refreshed for the next call', async () => {
    const current = await token();
    refused.add(current);
    upstream.take();
    const refreshesBefore = refreshCount(provider);
    const large = 'x'.repeat(100 * 1024);
    const res = await post(large);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: 'credential refused' });
    expect(upstream.take()).toHaveLength(1);
    expect(refreshCount(provider)).toBe(refreshesBefore + 1);
    const next = await token();
    expect(next).not.toBe(current);
    const again = await okJson(await post(large));
    expect(again.headers.authorization).toBe(`Bearer ${next}`);
    expect(again.body.length).toBe(large.length);
  });
});
