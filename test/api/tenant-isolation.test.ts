// Tenant isolation: one application's key, a revoked key or a session JWT never reaches another tenant's data.
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listApiKeys, revokeApiKey } from '../../src/vault/applications.js';
import { loadConnection } from '../../src/vault/connection-mutation.js';
import { SESSION_AUDIENCE, SESSION_ISSUER } from '../../src/vault/sessions.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson, type Json } from '../support/envelope.js';


const A_SECRET = 'zd-token-of-application-A-' + crypto.randomBytes(6).toString('hex');
const B_SECRET = 'zd-token-of-application-B-' + crypto.randomBytes(6).toString('hex');
const CONSUMER = 'acme-corp';
const OTHER_CONSUMER = 'globex';
const TARGET_FIELD = 'customer-support+tickets+priority_label';

async function expectError(res: Response, status: number, typeName: string): Promise<Json> {
  return (await expectErrorEnvelope(res, status, typeName)).body;
}

describe.each(backends)('tenant isolation (%s)', (backend) => {
  let coffer: TestCoffer;
  let appB: { application_id: string; api_key: string };
  let sessionToken: string;
  let shortToken: string;
  let shortIssuedAt: number;

  const json = (headers: Record<string, string>) => ({ ...headers, 'content-type': 'application/json' });
  const aHeaders = (consumer?: string) => coffer.headers(consumer);
  const bHeaders = (consumer?: string) => ({
    authorization: `Bearer ${appB.api_key}`,
    'x-apideck-app-id': appB.application_id,
    ...(consumer ? { 'x-apideck-consumer-id': consumer } : {}),
  });
  /** B's key presented for A's application. */
  const bKeyForA = (consumer?: string) => ({ ...bHeaders(consumer), 'x-apideck-app-id': coffer.appId });
  const jwtHeaders = (token: string, extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${token}`,
    'x-apideck-auth-type': 'JWT',
    ...extra,
  });
  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    fetch(`${coffer.url}${path}`, {
      method,
      headers: body === undefined ? headers : json(headers),
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** Everything of application A that B must never change, read through A's own key and the store. */
  async function snapshotOfA() {
    const consumer = await okJson(await call('GET', `/vault/consumers/${CONSUMER}`, aHeaders()));
    const connection = await okJson(await call('GET', '/vault/connections/customer-support/zendesk', aHeaders(CONSUMER)));
    const mappings = await okJson(await call('GET', '/vault/custom-mappings/customer-support/zendesk', aHeaders(CONSUMER)));
    const consents = await okJson(await call('GET', '/vault/connections/customer-support/zendesk/consent', aHeaders(CONSUMER)));
    const stored = await loadConnection(coffer.runtime.ctx, { applicationId: coffer.appId, consumerId: CONSUMER }, 'zendesk');
    return {
      metadata: consumer.data.metadata,
      services: consumer.data.services,
      connection: {
        state: connection.data.state,
        enabled: connection.data.enabled,
        settings: connection.data.settings,
        updated_at: connection.data.updated_at,
      },
      mappings: mappings.data,
      consents: consents.data,
      storedSecret: stored?.settings.api_key,
      storedVersion: stored?.version,
    };
  }

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    appB = await coffer.createApp();

    // Application A: a consumer with metadata, a configured Zendesk connection, a custom mapping, a consent and logs.
    await okJson(await call('POST', '/vault/consumers', aHeaders(), { consumer_id: CONSUMER, metadata: { account_name: 'Acme of A', email: 'ops@acme.example' } }));
    await okJson(
      await call('PATCH', '/vault/connections/customer-support/zendesk', aHeaders(CONSUMER), {
        settings: { subdomain: 'acme', email: 'agent@acme.example', api_key: A_SECRET },
      }),
    );
    await okJson(await call('POST', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, aHeaders(CONSUMER), { value: '$.fields.priority' }));
    await okJson(await call('PATCH', '/vault/connections/customer-support/zendesk/consent', aHeaders(CONSUMER), { granted: true, resources: '*' }));
    const session = await okJson(await call('POST', '/vault/sessions', aHeaders(CONSUMER), {}));
    sessionToken = session.data.session_token;
    // A 1-second session, minted early so that it has expired by the time its test runs. JWT times are whole
    // seconds, so it is minted at the start of a second to be usable right away.
    const ms = Date.now() % 1000;
    if (ms > 300) await new Promise((r) => setTimeout(r, 1005 - ms));
    const short = await okJson(await call('POST', '/vault/sessions', aHeaders(CONSUMER), { settings: { session_length: '1s' } }));
    shortToken = short.data.session_token;
    shortIssuedAt = Date.now();
    await okJson(await call('GET', '/vault/connections', jwtHeaders(shortToken)));
  });
  afterAll(async () => coffer?.close());

  it('application A sees its own data (baseline)', async () => {
    const snap = await snapshotOfA();
    expect(snap.metadata).toMatchObject({ account_name: 'Acme of A' });
    expect(snap.services).toEqual(['zendesk']);
    expect(snap.connection.state).toBe('callable');
    expect(snap.connection.settings).toMatchObject({ subdomain: 'acme', email: 'agent@acme.example' });
    expect(snap.mappings.map((m: Json) => m.id)).toEqual([TARGET_FIELD]);
    expect(snap.consents).toHaveLength(1);
    expect(snap.storedSecret).toBe(A_SECRET);
    const logs = await okJson(await call('GET', '/vault/logs', aHeaders(CONSUMER)));
    expect(logs.data.length).toBeGreaterThan(0);
  });

  it("B's key with A's application id is 401 everywhere", async () => {
    const attempts: Array<[string, string, string | undefined, unknown?]> = [
      ['GET', '/vault/consumers', undefined],
      ['GET', `/vault/consumers/${CONSUMER}`, undefined],
      ['PATCH', `/vault/consumers/${CONSUMER}`, undefined, { metadata: { account_name: 'hijacked' } }],
      ['DELETE', `/vault/consumers/${CONSUMER}`, undefined],
      ['POST', '/vault/consumers', undefined, { consumer_id: 'intruder' }],
      ['GET', '/vault/connections', CONSUMER],
      ['GET', '/vault/connections/customer-support/zendesk', CONSUMER],
      ['PATCH', '/vault/connections/customer-support/zendesk', CONSUMER, { enabled: false }],
      ['DELETE', '/vault/connections/customer-support/zendesk', CONSUMER],
      ['GET', '/vault/custom-mappings/customer-support/zendesk', CONSUMER],
      ['DELETE', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, CONSUMER],
      ['GET', '/vault/logs', CONSUMER],
      ['POST', '/vault/sessions', CONSUMER, {}],
    ];
    const before = await snapshotOfA();
    for (const [method, path, consumer, body] of attempts) {
      const res = await call(method, path, bKeyForA(consumer), body);
      const err = await expectError(res, 401, 'UnauthorizedError');
      expect(JSON.stringify(err)).not.toContain(appB.api_key);
    }
    expect(await snapshotOfA()).toEqual(before);
  });

  it("B's key with B's id cannot see A's consumers, connections, logs or custom mappings", async () => {
    const consumers = await okJson(await call('GET', '/vault/consumers', bHeaders()));
    expect(consumers.data).toEqual([]);
    const searched = await okJson(await call('GET', `/vault/consumers?filter[consumer_id]=${CONSUMER}`, bHeaders()));
    expect(searched.data).toEqual([]);
    const bySearch = await okJson(await call('GET', '/vault/consumers?filter[search]=acme', bHeaders()));
    expect(bySearch.data).toEqual([]);

    await expectError(await call('GET', `/vault/consumers/${CONSUMER}`, bHeaders()), 404, 'EntityNotFoundError');
    await expectError(
      await call('GET', `/vault/consumers/${CONSUMER}/stats?start_datetime=2000-01-01T00:00:00Z&end_datetime=2100-01-01T00:00:00Z`, bHeaders()),
      404,
      'EntityNotFoundError',
    );

    // The connection list for the same consumer id shows B's catalogue, with nothing configured.
    const list = await okJson(await call('GET', '/vault/connections', bHeaders(CONSUMER)));
    const zendesk = list.data.filter((c: Json) => c.service_id === 'zendesk');
    expect(zendesk.length).toBeGreaterThan(0);
    for (const c of list.data) {
      expect(c.state).toBe('available');
      expect(JSON.stringify(c)).not.toContain('acme');
    }
    const configured = await okJson(await call('GET', '/vault/connections?configured=true', bHeaders(CONSUMER)));
    expect(configured.data).toEqual([]);

    const one = await okJson(await call('GET', '/vault/connections/customer-support/zendesk', bHeaders(CONSUMER)));
    expect(one.data.state).toBe('available');
    expect(one.data.settings ?? {}).toEqual({});
    expect(JSON.stringify(one)).not.toContain('agent@acme.example');
    expect(JSON.stringify(one)).not.toContain(A_SECRET);

    await expectError(await call('GET', '/vault/connections/customer-support/zendesk/consent', bHeaders(CONSUMER)), 404, 'EntityNotFoundError');
    await expectError(await call('POST', '/vault/connections/customer-support/zendesk/validate', bHeaders(CONSUMER)), 404, 'EntityNotFoundError');

    const mappings = await okJson(await call('GET', '/vault/custom-mappings/customer-support/zendesk', bHeaders(CONSUMER)));
    expect(mappings.data).toEqual([]);
    await expectError(await call('GET', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, bHeaders(CONSUMER)), 404, 'EntityNotFoundError');

    const aLogs = await okJson(await call('GET', '/vault/logs?limit=200', aHeaders(CONSUMER)));
    const bLogs = await okJson(await call('GET', '/vault/logs?limit=200', bHeaders(CONSUMER)));
    const aIds = new Set(aLogs.data.map((l: Json) => l.id));
    expect(aIds.size).toBeGreaterThan(0);
    for (const log of bLogs.data) expect(aIds.has(log.id)).toBe(false);
    // B's own calls so far were made with this consumer id; none of A's calls (e.g. the custom mapping POST) show up.
    expect(bLogs.data.some((l: Json) => l.http_method === 'POST' && l.path.startsWith('/vault/custom-mappings'))).toBe(false);
    expect(bLogs.data.some((l: Json) => l.path === '/vault/sessions')).toBe(false);
  });

  it("B's writes never touch A's rows", async () => {
    const before = await snapshotOfA();

    // Updates and deletes of A's things are 404 for B.
    await expectError(await call('PATCH', `/vault/consumers/${CONSUMER}`, bHeaders(), { metadata: { account_name: 'hijacked' } }), 404, 'EntityNotFoundError');
    await expectError(await call('DELETE', `/vault/consumers/${CONSUMER}`, bHeaders()), 404, 'EntityNotFoundError');
    await expectError(await call('DELETE', '/vault/connections/customer-support/zendesk', bHeaders(CONSUMER)), 404, 'EntityNotFoundError');
    await expectError(
      await call('PATCH', '/vault/connections/customer-support/zendesk/consent', bHeaders(CONSUMER), { granted: false, resources: '*' }),
      404,
      'EntityNotFoundError',
    );
    await expectError(
      await call('PATCH', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, bHeaders(CONSUMER), { value: '$.hijacked' }),
      404,
      'EntityNotFoundError',
    );
    await expectError(await call('DELETE', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, bHeaders(CONSUMER)), 404, 'EntityNotFoundError');
    expect(await snapshotOfA()).toEqual(before);

    // Creates with the same ids make B's own rows.
    const created = await okJson(await call('POST', '/vault/consumers', bHeaders(), { consumer_id: CONSUMER, metadata: { account_name: 'Acme of B' } }));
    expect(created.data.application_id).toBe(appB.application_id);
    expect(created.data.metadata).toEqual({ account_name: 'Acme of B' });
    expect(created.data.connections).toEqual([]);
    const patched = await okJson(
      await call('PATCH', '/vault/connections/customer-support/zendesk', bHeaders(CONSUMER), {
        enabled: false,
        settings: { subdomain: 'b-corp', email: 'agent@b.example', api_key: B_SECRET },
      }),
    );
    expect(patched.data.settings).toMatchObject({ subdomain: 'b-corp', email: 'agent@b.example' });
    await okJson(await call('POST', `/vault/custom-mappings/customer-support/zendesk/${TARGET_FIELD}`, bHeaders(CONSUMER), { value: '$.b.priority' }));
    await okJson(await call('PATCH', '/vault/connections/customer-support/zendesk/consent', bHeaders(CONSUMER), { granted: false, resources: '*' }));
    await okJson(await call('PATCH', `/vault/consumers/${CONSUMER}`, bHeaders(), { metadata: { user_name: 'b-user' } }));

    const after = await snapshotOfA();
    expect(after).toEqual(before);
    expect(after.storedSecret).toBe(A_SECRET);
    expect(after.connection.enabled).toBe(true);
    expect(after.metadata).toEqual({ account_name: 'Acme of A', email: 'ops@acme.example' });
    expect(after.mappings[0].value).toBe('$.fields.priority');

    // A's listing does not contain B's rows either.
    const aConsumers = await okJson(await call('GET', '/vault/consumers', aHeaders()));
    expect(aConsumers.data.map((c: Json) => c.application_id)).toEqual(aConsumers.data.map(() => coffer.appId));

    // B deleting its own consumer and connection leaves A's intact.
    await okJson(await call('DELETE', `/vault/consumers/${CONSUMER}`, bHeaders()));
    await expectError(await call('GET', `/vault/consumers/${CONSUMER}`, bHeaders()), 404, 'EntityNotFoundError');
    expect(await snapshotOfA()).toEqual(before);
  });

  it('a revoked API key is 401, another application keeps working', async () => {
    const appC = await coffer.createApp();
    const cHeaders = { authorization: `Bearer ${appC.api_key}`, 'x-apideck-app-id': appC.application_id };
    await okJson(await call('GET', '/vault/consumers', cHeaders));
    const keys = await listApiKeys(coffer.runtime.ctx, appC.application_id);
    expect(keys).toHaveLength(1);
    await revokeApiKey(coffer.runtime.ctx, appC.application_id, keys[0].id);

    for (const [method, path, consumer] of [
      ['GET', '/vault/consumers', undefined],
      ['GET', '/vault/connections', 'someone'],
      ['POST', '/vault/sessions', 'someone'],
      ['GET', '/vault/logs', 'someone'],
    ] as const) {
      const err = await expectError(await call(method, path, { ...cHeaders, ...(consumer ? { 'x-apideck-consumer-id': consumer } : {}) }), 401, 'UnauthorizedError');
      expect(JSON.stringify(err)).not.toContain(appC.api_key);
    }
    // Nothing was created by the rejected session call.
    const row = await coffer.runtime.ctx.db.selectFrom('consumers').select('consumer_id').where('application_id', '=', appC.application_id).execute();
    expect(row).toEqual([]);
    await okJson(await call('GET', '/vault/consumers', aHeaders()));
  });

  describe('session JWT', () => {
    it('reads and writes its own consumer\'s connections, with and without x-apideck-app-id', async () => {
      for (const extra of [{}, { 'x-apideck-app-id': coffer.appId }, { 'x-apideck-app-id': coffer.appId, 'x-apideck-consumer-id': CONSUMER }] as Array<Record<string, string>>) {
        const list = await okJson(await call('GET', '/vault/connections', jwtHeaders(sessionToken, extra)));
        const zendesk = list.data.find((c: Json) => c.id === 'customer-support+zendesk');
        expect(zendesk.state).toBe('callable');
        expect(zendesk.settings).toMatchObject({ subdomain: 'acme' });
        const one = await okJson(await call('GET', '/vault/connections/customer-support/zendesk', jwtHeaders(sessionToken, extra)));
        expect(one.data.settings).toMatchObject({ email: 'agent@acme.example' });
      }
      const patched = await okJson(
        await call('PATCH', '/vault/connections/crm/pipedrive', jwtHeaders(sessionToken), { settings: { api_key: 'pd-via-session' } }),
      );
      expect(patched.data.state).toBe('callable');
      const viaKey = await okJson(await call('GET', '/vault/connections/crm/pipedrive', aHeaders(CONSUMER)));
      expect(viaKey.data.state).toBe('callable');
      const stored = await loadConnection(coffer.runtime.ctx, { applicationId: coffer.appId, consumerId: CONSUMER }, 'pipedrive');
      expect(stored?.settings.api_key).toBe('pd-via-session');
      // Not written for another consumer.
      const other = await loadConnection(coffer.runtime.ctx, { applicationId: coffer.appId, consumerId: OTHER_CONSUMER }, 'pipedrive');
      expect(other).toBeNull();

      const mapping = await okJson(
        await call('POST', '/vault/custom-mappings/crm/pipedrive/crm+leads+source_detail', jwtHeaders(sessionToken, { 'x-apideck-app-id': coffer.appId }), {
          value: '$.source',
        }),
      );
      expect(mapping.data.consumer_id).toBe(CONSUMER);
      const withKey = await okJson(await call('GET', '/vault/custom-mappings/crm/pipedrive', aHeaders(CONSUMER)));
      expect(withKey.data.map((m: Json) => m.id)).toEqual(['crm+leads+source_detail']);
      const logs = await okJson(await call('GET', '/vault/logs', jwtHeaders(sessionToken)));
      expect(logs.data.length).toBeGreaterThan(0);
      for (const l of logs.data) expect(l.consumer_id).toBe(CONSUMER);
      const res = await call('DELETE', '/vault/connections/crm/pipedrive', jwtHeaders(sessionToken));
      expect(res.status).toBe(204);
    });

    it("with another consumer's id it is 403 and writes nothing", async () => {
      await okJson(await call('PATCH', '/vault/connections/crm/pipedrive', aHeaders(OTHER_CONSUMER), { settings: { api_key: 'globex-key' } }));
      for (const [method, path, body] of [
        ['GET', '/vault/connections', undefined],
        ['GET', '/vault/connections/crm/pipedrive', undefined],
        ['PATCH', '/vault/connections/crm/pipedrive', { enabled: false, settings: { api_key: 'overwritten' } }],
        ['DELETE', '/vault/connections/crm/pipedrive', undefined],
        ['GET', '/vault/logs', undefined],
        ['GET', '/vault/custom-mappings/crm/pipedrive', undefined],
      ] as const) {
        for (const extra of [{ 'x-apideck-consumer-id': OTHER_CONSUMER }, { 'x-apideck-consumer-id': OTHER_CONSUMER, 'x-apideck-app-id': coffer.appId }] as Array<Record<string, string>>) {
          await expectError(await call(method, path, jwtHeaders(sessionToken, extra), body), 403, 'ForbiddenError');
        }
      }
      const stored = await loadConnection(coffer.runtime.ctx, { applicationId: coffer.appId, consumerId: OTHER_CONSUMER }, 'pipedrive');
      expect(stored?.settings.api_key).toBe('globex-key');
      expect(stored?.enabled).toBe(true);
    });

    it('cannot call /vault/consumers or /vault/sessions (403)', async () => {
      const count = async () =>
        Number(
          (await coffer.runtime.ctx.db.selectFrom('consumers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n,
        );
      const before = await count();
      for (const extra of [{}, { 'x-apideck-app-id': coffer.appId }, { 'x-apideck-app-id': coffer.appId, 'x-apideck-consumer-id': CONSUMER }] as Array<Record<string, string>>) {
        const h = jwtHeaders(sessionToken, extra);
        await expectError(await call('GET', '/vault/consumers', h), 403, 'ForbiddenError');
        await expectError(await call('GET', `/vault/consumers/${CONSUMER}`, h), 403, 'ForbiddenError');
        await expectError(await call('GET', `/vault/consumers/${OTHER_CONSUMER}`, h), 403, 'ForbiddenError');
        await expectError(await call('POST', '/vault/consumers', h, { consumer_id: 'made-by-session' }), 403, 'ForbiddenError');
        await expectError(await call('PATCH', `/vault/consumers/${CONSUMER}`, h, { metadata: { account_name: 'x' } }), 403, 'ForbiddenError');
        await expectError(await call('DELETE', `/vault/consumers/${OTHER_CONSUMER}`, h), 403, 'ForbiddenError');
        await expectError(await call('POST', '/vault/sessions', h, {}), 403, 'ForbiddenError');
        await expectError(await call('POST', '/vault/connections/crm/hubspot/import', h, { credentials: { access_token: 'x' } }), 403, 'ForbiddenError');
      }
      expect(await count()).toBe(before);
      await okJson(await call('GET', `/vault/consumers/${OTHER_CONSUMER}`, aHeaders()));
    });

    it('an expired session token is 401 (session_length 1s)', async () => {
      const token = shortToken;
      const wait = shortIssuedAt + 2100 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const err = await expectError(await call('GET', '/vault/connections', jwtHeaders(token)), 401, 'UnauthorizedError');
      expect(JSON.stringify(err)).not.toContain(token);
      await expectError(await call('PATCH', '/vault/connections/crm/pipedrive', jwtHeaders(token, { 'x-apideck-app-id': coffer.appId }), { enabled: true }), 401, 'UnauthorizedError');
    });

    it('an expired token signed with the real key is 401', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ application_id: coffer.appId, consumer_id: CONSUMER, settings: {} })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(SESSION_ISSUER)
        .setAudience(SESSION_AUDIENCE)
        .setSubject(CONSUMER)
        .setIssuedAt(now - 7200)
        .setExpirationTime(now - 3600)
        .sign(coffer.runtime.ctx.keyring.sessionSigningKey);
      await expectError(await call('GET', '/vault/connections', jwtHeaders(token)), 401, 'UnauthorizedError');
      await expectError(await call('GET', '/vault/connections', jwtHeaders(token, { 'x-apideck-app-id': coffer.appId })), 401, 'UnauthorizedError');

      // The same claims, not expired, are accepted: the key and claims above are the real ones.
      const fresh = await new SignJWT({ application_id: coffer.appId, consumer_id: CONSUMER, settings: {} })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(SESSION_ISSUER)
        .setAudience(SESSION_AUDIENCE)
        .setSubject(CONSUMER)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(coffer.runtime.ctx.keyring.sessionSigningKey);
      await okJson(await call('GET', '/vault/connections', jwtHeaders(fresh)));
    });

    it('a forged or tampered token is 401', async () => {
      const claims = { application_id: coffer.appId, consumer_id: CONSUMER, settings: {} };
      const otherKey = crypto.randomBytes(32);
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(SESSION_ISSUER)
        .setAudience(SESSION_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(otherKey);

      const [header, payload, signature] = sessionToken.split('.');
      const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json;
      const tamper = (change: Json) => `${header}.${Buffer.from(JSON.stringify({ ...decoded, ...change })).toString('base64url')}.${signature}`;
      const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const unsigned = `${noneHeader}.${payload}.`;
      const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;

      for (const token of [
        forged,
        tamper({ consumer_id: OTHER_CONSUMER }),
        tamper({ application_id: appB.application_id }),
        tamper({ exp: decoded.exp + 3600 }),
        unsigned,
        flipped,
        'not-a-jwt',
      ]) {
        for (const extra of [{}, { 'x-apideck-app-id': coffer.appId }] as Array<Record<string, string>>) {
          const err = await expectError(await call('GET', '/vault/connections', jwtHeaders(token, extra)), 401, 'UnauthorizedError');
          expect(JSON.stringify(err)).not.toContain(token);
        }
      }
      // Tampering towards another consumer reaches nothing of theirs.
      await expectError(
        await call('PATCH', '/vault/connections/crm/pipedrive', jwtHeaders(tamper({ consumer_id: OTHER_CONSUMER })), { enabled: false }),
        401,
        'UnauthorizedError',
      );
      const stored = await loadConnection(coffer.runtime.ctx, { applicationId: coffer.appId, consumerId: OTHER_CONSUMER }, 'pipedrive');
      expect(stored?.enabled).toBe(true);
    });

    it("a token of application A with B's application id is 401", async () => {
      for (const extra of [{ 'x-apideck-app-id': appB.application_id }, { 'x-apideck-app-id': appB.application_id, 'x-apideck-consumer-id': CONSUMER }] as Array<Record<string, string>>) {
        await expectError(await call('GET', '/vault/connections', jwtHeaders(sessionToken, extra)), 401, 'UnauthorizedError');
        await expectError(await call('GET', '/vault/connections/customer-support/zendesk', jwtHeaders(sessionToken, extra)), 401, 'UnauthorizedError');
        await expectError(
          await call('PATCH', '/vault/connections/crm/pipedrive', jwtHeaders(sessionToken, extra), { settings: { api_key: 'into-b' } }),
          401,
          'UnauthorizedError',
        );
      }
      const inB = await loadConnection(coffer.runtime.ctx, { applicationId: appB.application_id, consumerId: CONSUMER }, 'pipedrive');
      expect(inB).toBeNull();
      // And B's token is no key to A: a session minted by B for the same consumer id sees only B.
      const bSession = await okJson(await call('POST', '/vault/sessions', bHeaders(CONSUMER), {}));
      const bToken = bSession.data.session_token as string;
      await expectError(await call('GET', '/vault/connections', jwtHeaders(bToken, { 'x-apideck-app-id': coffer.appId })), 401, 'UnauthorizedError');
      const bList = await okJson(await call('GET', '/vault/connections', jwtHeaders(bToken)));
      expect(bList.data.every((c: Json) => c.state === 'available')).toBe(true);
    });

    it('a session token is not accepted as an API key of the application (without the JWT auth type)', async () => {
      // Sent like an API key (no X-APIDECK-AUTH-TYPE): still treated as a session, so still consumer-scoped.
      await expectError(
        await call('GET', '/vault/consumers', { authorization: `Bearer ${sessionToken}`, 'x-apideck-app-id': coffer.appId }),
        403,
        'ForbiddenError',
      );
      // An API key marked as JWT is not a valid session.
      await expectError(await call('GET', '/vault/connections', jwtHeaders(coffer.apiKey, { 'x-apideck-app-id': coffer.appId })), 401, 'UnauthorizedError');
    });
  });
});
