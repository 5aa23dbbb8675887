// A session's own settings are enforced by the server, not only hidden by the UI: a consumer holding the JWT of a
// session made with `allow_actions: []`, `unified_apis: ["crm"]`, `show_logs: false` and
// `hide_resource_settings: true` calls the API directly and is refused (403 ForbiddenError), and nothing changes in
// storage. An unrestricted session and the API key still do all of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson, type Json } from '../support/envelope.js';
import {
  api,
  APP_REDIRECT,
  authorize,
  expectErrorPage,
  fetchManual,
  getConnection,
  snapshot,
  startHarness,
  withParams,
  type Harness,
} from '../support/oauth-harness.js';

const RESTRICTED = { allow_actions: [], unified_apis: ['crm'], show_logs: false, hide_resource_settings: true };
const LEADS_CONFIG = { configuration: [{ resource: 'leads', defaults: [{ id: 'default_lead_source', value: 'Partner Referral' }] }] };

describe.each(backends)('session restrictions are enforced by the server (%s)', (backend) => {
  let h: Harness;
  let svc: string;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness(backend, [{ id: 'acme-crm' }]);
    svc = h.services['acme-crm'];
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const call = (token: string, method: string, path: string, body?: unknown) =>
    fetch(`${h.coffer.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-apideck-auth-type': 'JWT',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  async function sessionToken(consumer: string, settings: Json = {}): Promise<string> {
    const res = await api(h.coffer, consumer, 'POST', '/vault/sessions', { settings });
    expect(res.status, res.text).toBe(200);
    return res.body.data.session_token;
  }

  /** A consumer with a callable API-key connection (pipedrive), a disabled one (close), Salesforce with resource
   * settings, and the OAuth connector authorized through the provider. */
  async function consumerWithConnections(): Promise<string> {
    const consumer = `sr-consumer-${++seq}`;
    const ok = async (method: string, path: string, body?: unknown) => {
      const res = await api(h.coffer, consumer, method, path, body);
      expect(res.status, res.text).toBe(200);
    };
    await ok('PATCH', '/vault/connections/crm/pipedrive', { settings: { api_key: 'pd-key' } });
    await ok('PATCH', '/vault/connections/crm/close', { settings: { api_key: 'close-key' }, enabled: false });
    await ok('POST', '/vault/connections/crm/salesforce/import', {
      credentials: { access_token: 'sf-access', refresh_token: 'sf-refresh', expires_in: 3600 },
      settings: { instance_url: 'https://acme.my.salesforce.com' },
    });
    await authorize(h, consumer, svc);
    return consumer;
  }

  async function expectRefused(res: Response, mentions: string | RegExp) {
    const { body } = await expectErrorEnvelope(res, 403, 'ForbiddenError');
    expect(body.message).toMatch(mentions);
  }

  /** What the API key sees of the consumer: every connection of the restricted session's reach, and its config. */
  async function readBack(consumer: string) {
    const connections = await api(h.coffer, consumer, 'GET', '/vault/connections');
    const config = await api(h.coffer, consumer, 'GET', '/vault/connections/crm/salesforce/leads/config');
    const mappings = await api(h.coffer, consumer, 'GET', '/vault/custom-mappings/crm/salesforce');
    const mine = (connections.body.data as Json[])
      .filter((c) => c.state !== 'available')
      .map((c) => ({ id: c.id, state: c.state, enabled: c.enabled, settings: c.settings, updated_at: c.updated_at }));
    return { mine, config: config.body.data.configuration, mappings: mappings.body.data, raw: await snapshot(h.coffer) };
  }

  it('refuses logs, other unified APIs, enable/disable, delete and resource settings, and changes nothing', async () => {
    const consumer = await consumerWithConnections();
    const token = await sessionToken(consumer, RESTRICTED);
    const before = await readBack(consumer);
    expect(before.mine.map((c) => c.id)).toEqual(expect.arrayContaining(['crm+close', 'crm+pipedrive', 'crm+salesforce', `crm+${svc}`]));

    // show_logs: false
    await expectRefused(await call(token, 'GET', '/vault/logs'), /logs/);
    // unified_apis: ["crm"] — an ats connector can be neither read, connected nor changed.
    for (const method of ['POST', 'PATCH'] as const) {
      await expectRefused(await call(token, method, '/vault/connections/ats/greenhouse', { settings: { api_key: 'gh-key' } }), /ats API/);
    }
    await expectRefused(await call(token, 'GET', '/vault/connections/ats/greenhouse'), /ats API/);
    await expectRefused(await call(token, 'DELETE', '/vault/connections/ats/greenhouse'), /ats API/);
    await expectRefused(await call(token, 'GET', '/vault/connections/ats/greenhouse/consent'), /ats API/);
    await expectRefused(await call(token, 'GET', '/vault/custom-mappings/ats/greenhouse'), /ats API/);
    // allow_actions: [] — no disable, no enabling again, no delete.
    await expectRefused(await call(token, 'PATCH', '/vault/connections/crm/pipedrive', { enabled: false }), 'This session does not allow the disable action');
    await expectRefused(await call(token, 'POST', '/vault/connections/crm/pipedrive', { enabled: false }), 'This session does not allow the disable action');
    await expectRefused(await call(token, 'PATCH', '/vault/connections/crm/close', { enabled: true }), 'This session does not allow the disable action');
    await expectRefused(await call(token, 'PATCH', '/vault/connections/crm/close', { settings: { api_key: 'other' }, enabled: true }), /disable action/);
    await expectRefused(await call(token, 'DELETE', '/vault/connections/crm/pipedrive'), 'This session does not allow the delete action');
    await expectRefused(await call(token, 'DELETE', `/vault/connections/crm/${svc}`), 'This session does not allow the delete action');
    // hide_resource_settings: true — resource config, custom fields and mappings, read or written, by any route.
    const sf = '/vault/connections/crm/salesforce';
    await expectRefused(await call(token, 'GET', `${sf}/leads/config`), /resource settings/);
    await expectRefused(await call(token, 'PATCH', `${sf}/leads/config`, LEADS_CONFIG), /resource settings/);
    await expectRefused(await call(token, 'PATCH', sf, LEADS_CONFIG), /resource settings/);
    await expectRefused(await call(token, 'GET', `${sf}/leads/custom-mappings`), /resource settings/);
    await expectRefused(await call(token, 'GET', `${sf}/leads/custom-mapping`), /resource settings/);
    await expectRefused(await call(token, 'GET', `${sf}/leads/custom-fields`), /resource settings/);
    await expectRefused(await call(token, 'GET', '/vault/custom-mappings/crm/salesforce'), /resource settings/);
    await expectRefused(await call(token, 'POST', '/vault/custom-mappings/crm/salesforce/leads+custom', { value: '$.x' }), /resource settings/);
    await expectRefused(await call(token, 'PATCH', sf, { custom_mappings: [{ id: 'leads+custom', value: '$.x' }] }), /resource settings/);

    expect(await readBack(consumer)).toEqual(before);
  }, 60_000);

  it('lists only the session’s unified APIs; an `api` outside them lists nothing', async () => {
    const consumer = await consumerWithConnections();
    const token = await sessionToken(consumer, RESTRICTED);
    const all = (await okJson(await call(token, 'GET', '/vault/connections'))).data as Json[];
    expect(all.length).toBeGreaterThan(0);
    expect(new Set(all.map((c) => c.unified_api))).toEqual(new Set(['crm']));
    expect((await okJson(await call(token, 'GET', '/vault/connections?api=ats'))).data).toEqual([]);
    expect((await okJson(await call(token, 'GET', '/vault/connections?api=crm'))).data.length).toBe(all.length);
    // The API key still sees every unified API.
    const everything = (await api(h.coffer, consumer, 'GET', '/vault/connections')).body.data as Json[];
    expect(everything.some((c) => c.unified_api === 'ats')).toBe(true);
  }, 60_000);

  it('does not hand out revoke_url (disconnect) or a re-authorize link when the actions are not allowed', async () => {
    const consumer = await consumerWithConnections();
    const token = await sessionToken(consumer, RESTRICTED);
    const one = (await okJson(await call(token, 'GET', `/vault/connections/crm/${svc}`))).data;
    expect(one.state).toBe('callable');
    expect(one.authorize_url).toBeNull();
    expect(one.revoke_url).toBeNull();
    const listed = ((await okJson(await call(token, 'GET', '/vault/connections'))).data as Json[]).find((c) => c.service_id === svc);
    expect([listed?.authorize_url, listed?.revoke_url]).toEqual([null, null]);
    // Nor in the answer to a write the session may make.
    const saved = (await okJson(await call(token, 'PATCH', `/vault/connections/crm/${svc}`, { metadata: { note: 'x' } }))).data;
    expect([saved.authorize_url, saved.revoke_url]).toEqual([null, null]);
    const raw = await snapshot(h.coffer);

    // reauthorize allowed, disconnect not: the authorize link's state does not open the revoke path.
    const reauth = await sessionToken(consumer, { allow_actions: ['reauthorize'] });
    const view = (await okJson(await call(reauth, 'GET', `/vault/connections/crm/${svc}`))).data;
    expect(view.revoke_url).toBeNull();
    expect(view.authorize_url).toEqual(expect.any(String));
    const onRevoke = (view.authorize_url as string).replace('/vault/authorize/', '/vault/revoke/');
    await expectErrorPage(await fetchManual(withParams(onRevoke, { redirect_uri: APP_REDIRECT })), 400, 'invalid_state');
    expect((await getConnection(h.coffer, consumer, 'crm', svc)).state).toBe('callable');
    expect((await snapshot(h.coffer)).connections).toEqual(raw.connections);
  }, 60_000);

  it('an authorize link handed out before the connection was authorized does not re-authorize it', async () => {
    const consumer = `sr-first-${++seq}`;
    const token = await sessionToken(consumer, RESTRICTED);
    const early = (await okJson(await call(token, 'GET', `/vault/connections/crm/${svc}`))).data;
    expect(early.authorize_url).toEqual(expect.any(String));
    // Authorized meanwhile (the first link of the same session would have done the same).
    await authorize(h, consumer, svc);
    const raw = await snapshot(h.coffer);
    const grants = h.grants.length;
    await expectErrorPage(await fetchManual(withParams(early.authorize_url, { redirect_uri: APP_REDIRECT })), 403, 'reauthorize_not_allowed');
    expect(h.grants.length).toBe(grants);
    expect((await snapshot(h.coffer)).connections).toEqual(raw.connections);
  }, 60_000);

  it('adding a connection ({enabled: true} on a new one) and re-sending the current value are not a disable action', async () => {
    const consumer = `sr-add-${++seq}`;
    const token = await sessionToken(consumer, RESTRICTED);
    const added = (await okJson(await call(token, 'PATCH', '/vault/connections/crm/pipedrive', { enabled: true }))).data;
    expect(added.enabled).toBe(true);
    const saved = (await okJson(await call(token, 'PATCH', '/vault/connections/crm/pipedrive', { enabled: true, settings: { api_key: 'pd' } }))).data;
    expect(saved.state).toBe('callable');
  }, 60_000);

  it('isolation_mode hides logs too', async () => {
    const consumer = `sr-iso-${++seq}`;
    await expectRefused(await call(await sessionToken(consumer, { isolation_mode: true }), 'GET', '/vault/logs'), /logs/);
    await okJson(await call(await sessionToken(consumer, { isolation_mode: false }), 'GET', '/vault/logs'));
  });

  for (const caller of ['an unrestricted session', 'the API key'] as const) {
    it(`${caller} can still do all of it`, async () => {
      const consumer = await consumerWithConnections();
      const token = caller === 'an unrestricted session' ? await sessionToken(consumer) : null;
      const send = async (method: string, path: string, body?: unknown) => {
        if (token) return call(token, method, path, body);
        const res = await api(h.coffer, consumer, method, path, body);
        return new Response(res.text || null, { status: res.status, headers: { 'content-type': 'application/json' } });
      };
      await okJson(await send('GET', '/vault/logs'));
      await okJson(await send('PATCH', '/vault/connections/ats/greenhouse', { settings: { api_key: 'gh-key' } }));
      expect((await okJson(await send('GET', '/vault/connections?api=ats'))).data.length).toBeGreaterThan(0);
      expect((await okJson(await send('PATCH', '/vault/connections/crm/pipedrive', { enabled: false }))).data.enabled).toBe(false);
      expect((await okJson(await send('PATCH', '/vault/connections/crm/close', { enabled: true }))).data.enabled).toBe(true);
      await okJson(await send('GET', '/vault/connections/crm/salesforce/leads/config'));
      await okJson(await send('PATCH', '/vault/connections/crm/salesforce/leads/config', LEADS_CONFIG));
      await okJson(await send('GET', '/vault/custom-mappings/crm/salesforce'));
      const oauth = (await okJson(await send('GET', `/vault/connections/crm/${svc}`))).data;
      expect(oauth.authorize_url).toEqual(expect.any(String));
      expect(oauth.revoke_url).toEqual(expect.any(String));
      expect((await send('DELETE', '/vault/connections/crm/pipedrive')).status).toBe(204);
      expect((await getConnection(h.coffer, consumer, 'crm', 'pipedrive')).state).toBe('available');
      const config = (await api(h.coffer, consumer, 'GET', '/vault/connections/crm/salesforce/leads/config')).body.data.configuration;
      expect(config.find((c: Json) => c.resource === 'leads').defaults.find((d: Json) => d.id === 'default_lead_source').value).toBe('Partner Referral');
    }, 60_000);
  }

  it('a token made with session_length "2s" is refused with 401 once it has expired', async () => {
    const token = await sessionToken(`sr-short-${++seq}`, { session_length: '2s' });
    await okJson(await call(token, 'GET', '/vault/connections'));
    await expect.poll(async () => (await call(token, 'GET', '/vault/connections')).status, { timeout: 15_000, interval: 250 }).toBe(401);
    const { body } = await expectErrorEnvelope(await call(token, 'GET', '/vault/connections'), 401, 'UnauthorizedError');
    expect(body.detail).toBe('Session token has expired');
  }, 30_000);
});

describe('session theme values are checked when the session is created', () => {
  let coffer: TestCoffer;
  beforeAll(async () => {
    coffer = await startCoffer('sqlite');
  });
  afterAll(async () => {
    await coffer?.close();
  });

  const create = (consumer: string, theme: Json) =>
    fetch(`${coffer.url}/vault/sessions`, {
      method: 'POST',
      headers: { ...coffer.headers(consumer), 'content-type': 'application/json' },
      body: JSON.stringify({ theme }),
    });

  it.each([
    ['primary_color', 'rgb(1,2,3) url(https://evil.example/x.png)'],
    ['primary_color', 'red; background: url(https://evil.example/x.png)'],
    ['sidepanel_background_color', '#12345'],
    ['sidepanel_text_color', 'rgb(1, 2, var(--x))'],
    ['sidepanel_text_color', 'hsl(1, 2%, 3%) !important'],
    ['logo', 'http://cdn.example/logo.png'],
    ['favicon', 'data:image/svg+xml,<svg/>'],
    ['privacy_url', 'javascript:alert(1)'],
    ['terms_url', 'https://user:pass@app.example/terms'],
    ['terms_url', '/relative/terms'],
    ['vault_name', 'x'.repeat(101)],
    ['vault_name', 'Acme\nVault'],
  ])('refuses theme.%s = %j with 400 and creates no consumer', async (field, value) => {
    const consumer = `theme-${field}-${Math.random().toString(36).slice(2, 8)}`;
    const { body } = await expectErrorEnvelope(await create(consumer, { [field]: value }), 400, 'RequestValidationError');
    expect(body.message).toContain(`theme.${field}`);
    expect((await api(coffer, consumer, 'GET', `/vault/consumers/${consumer}`)).status).toBe(404);
  });

  it('refuses an unknown theme key', async () => {
    const { body } = await expectErrorEnvelope(await create('theme-unknown', { background_image: 'https://x.example/a.png' }), 400, 'RequestValidationError');
    expect(body.message).toContain('theme.background_image');
  });

  it('accepts the grammar it documents', async () => {
    const theme = {
      primary_color: '#286efa',
      sidepanel_background_color: 'rgba(17, 24, 39, 0.9)',
      sidepanel_text_color: 'hsl(210, 20%, 98%)',
      vault_name: 'Acme Integrations',
      logo: 'https://cdn.example/logo.png',
      favicon: 'https://cdn.example/favicon.ico',
      privacy_url: 'https://app.example/privacy',
      terms_url: 'https://app.example/terms?lang=en',
    };
    await okJson(await create('theme-ok', theme));
  });
});
