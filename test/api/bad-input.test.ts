// Bad input: every rejected request gets the right 4xx Apideck envelope, never a 500, and writes nothing.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { expectErrorEnvelope, okJson, type Json } from '../support/envelope.js';
import { expectAuth0Error, flowsCall, managementToken } from '../support/flows.js';
import { MAX_ID_LENGTH, MAX_JSON_DEPTH } from '../../src/http/input-bounds.js';


const SECRET = 'sk_live_' + crypto.randomBytes(12).toString('hex');
const EXISTING = 'existing-consumer';
const GHOST = 'ghost-consumer';

interface Req {
  method: string;
  path: string;
  /** Defaults to application A's key and id (+ consumer when given). */
  headers?: Record<string, string>;
  consumer?: string;
  /** An object is sent as JSON; a string is sent as-is with Content-Type: application/json. */
  body?: unknown;
  contentType?: string;
}

describe.each(backends)('bad input (%s)', (backend) => {
  let coffer: TestCoffer;
  let appB: { application_id: string; api_key: string };

  function send(req: Req): Promise<Response> {
    const headers: Record<string, string> = { ...(req.headers ?? coffer.headers(req.consumer)) };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      headers['content-type'] = req.contentType ?? 'application/json';
    }
    return fetch(`${coffer.url}${req.path}`, { method: req.method, headers, body });
  }

  /** Every row a rejected request could have written (request logs and request counters aside). */
  async function snapshot() {
    const db = coffer.runtime.ctx.db;
    const count = async (table: 'consents' | 'callback_states' | 'outbox' | 'applications' | 'api_keys' | 'app_connectors') =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    return {
      consumers: await db
        .selectFrom('consumers')
        .select(['application_id', 'consumer_id', 'metadata', 'search_text', 'updated_at'])
        .orderBy('application_id')
        .orderBy('consumer_id')
        .execute(),
      connections: await db
        .selectFrom('connections')
        .select(['id', 'application_id', 'consumer_id', 'service_id', 'version', 'updated_at', 'settings', 'enabled'])
        .orderBy('id')
        .execute(),
      customMappings: await db.selectFrom('custom_mappings').selectAll().orderBy('target_field_id').orderBy('consumer_id').execute(),
      consents: await count('consents'),
      callbackStates: await count('callback_states'),
      outbox: await count('outbox'),
      applications: await count('applications'),
      apiKeys: await count('api_keys'),
      appConnectors: await count('app_connectors'),
    };
  }

  /** Sends `req`, expects the error envelope, no secret in it, and no row written. */
  async function rejected(req: Req, status: number, typeName: string, secrets: string[] = [SECRET]): Promise<Json> {
    const before = await snapshot();
    const { body, text } = await expectErrorEnvelope(await send(req), status, typeName, `${req.method} ${req.path}: `);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(await snapshot(), `${req.method} ${req.path} wrote something`).toEqual(before);
    return body;
  }

  beforeAll(async () => {
    coffer = await startCoffer(backend);
    appB = await coffer.createApp();
    await okJson(await send({ method: 'POST', path: '/vault/consumers', body: { consumer_id: EXISTING, metadata: { account_name: 'Existing' } } }));
    await okJson(await send({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { settings: { api_key: 'pd-existing' } } }));
    await okJson(
      await send({
        method: 'POST',
        path: '/vault/consumers',
        headers: { authorization: `Bearer ${appB.api_key}`, 'x-apideck-app-id': appB.application_id },
        body: { consumer_id: 'only-in-b', metadata: { account_name: 'B' } },
      }),
    );
  });
  afterAll(async () => coffer?.close());

  it('malformed JSON is a 400 RequestValidationError', async () => {
    await rejected({ method: 'POST', path: '/vault/consumers', body: `{"consumer_id": "${GHOST}", ` }, 400, 'RequestValidationError');
    await rejected(
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: GHOST, body: `{"settings": {"api_key": "${SECRET}"}` },
      400,
      'RequestValidationError',
    );
    await rejected(
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: `{"settings": {"api_key": "${SECRET}"},}` },
      400,
      'RequestValidationError',
    );
    await rejected({ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: 'not json at all' }, 400, 'RequestValidationError');
    await rejected({ method: 'PATCH', path: `/vault/consumers/${EXISTING}`, body: "{'metadata': {}}" }, 400, 'RequestValidationError');
  });

  it('wrong types are a 400 RequestValidationError', async () => {
    const cases: Req[] = [
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { enabled: 'yes', settings: { api_key: SECRET } } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: GHOST, body: { enabled: 'yes' } },
      { method: 'POST', path: '/vault/connections/crm/pipedrive', consumer: GHOST, body: { settings: 'x' } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { settings: { api_key: { nested: SECRET } } } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { metadata: 'x' } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { consent_state: 'maybe' } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: [] },
      { method: 'POST', path: '/vault/consumers', body: { consumer_id: 42 } },
      { method: 'POST', path: '/vault/consumers', body: { consumer_id: '' } },
      { method: 'POST', path: '/vault/consumers', body: {} },
      { method: 'POST', path: '/vault/consumers', body: [{ consumer_id: GHOST }] },
      { method: 'POST', path: '/vault/consumers', body: { consumer_id: GHOST, metadata: { email: 7 } } },
      { method: 'PATCH', path: `/vault/consumers/${EXISTING}`, body: { metadata: 'x' } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive/consent', consumer: EXISTING, body: { granted: 'true', resources: '*' } },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive/consent', consumer: EXISTING, body: { granted: true } },
      { method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: { show_logs: 'yes' } } },
      { method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: 'x' } },
      { method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: { unified_apis: ['not-an-api'] } } },
      { method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', consumer: GHOST, body: { value: 42 } },
      { method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', consumer: GHOST, body: { value: 'not-a-json-path' } },
      { method: 'POST', path: '/vault/connections/crm/hubspot/import', consumer: GHOST, body: { credentials: { access_token: 123 } } },
      { method: 'POST', path: '/vault/connections/crm/hubspot/import', consumer: GHOST, body: { credentials: { access_token: SECRET, expires_in: -5 } } },
      { method: 'POST', path: '/vault/connections/crm/hubspot/import', consumer: GHOST, body: { credentials: { access_token: SECRET, issued_at: 'yesterday', expires_in: 60 } } },
    ];
    for (const req of cases) await rejected(req, 400, 'RequestValidationError');
  });

  it('unknown properties are rejected where the spec says additionalProperties: false', async () => {
    const cases: Array<[Req, string]> = [
      [{ method: 'POST', path: '/vault/consumers', body: { consumer_id: GHOST, foo: 1 } }, 'foo'],
      [{ method: 'PATCH', path: `/vault/consumers/${EXISTING}`, body: { metadata: { account_name: 'Changed' }, foo: 1 } }, 'foo'],
      [{ method: 'PATCH', path: `/vault/consumers/${EXISTING}`, body: { consumer_id: 'renamed' } }, 'consumer_id'],
      [{ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { foo: 1 } }, 'foo'],
      [{ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: { session_length: '1h', foo: true } } }, 'foo'],
      [
        { method: 'POST', path: '/vault/connections/crm/hubspot/import', consumer: GHOST, body: { credentials: { access_token: SECRET, foo: 1 } } },
        'foo',
      ],
      [{ method: 'PATCH', path: '/vault/connections/crm/pipedrive/consent', consumer: EXISTING, body: { granted: true, resources: '*', foo: 1 } }, 'foo'],
      [{ method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', consumer: GHOST, body: { value: '$.x', foo: 1 } }, 'foo'],
      [{ method: 'PATCH', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', consumer: EXISTING, body: { value: '$.x', foo: 1 } }, 'foo'],
    ];
    for (const [req, property] of cases) {
      const err = await rejected(req, 400, 'RequestValidationError');
      expect(err.message).toContain(property);
    }
  });

  it('a body over 1 MiB is a 413', async () => {
    const big = 'x'.repeat(1024 * 1024 + 16);
    await rejected({ method: 'POST', path: '/vault/consumers', body: { consumer_id: GHOST, metadata: { account_name: big } } }, 413, 'RequestTooLargeError');
    await rejected(
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { settings: { api_key: SECRET, pad: big } } },
      413,
      'RequestTooLargeError',
    );
    // Just under the limit is parsed (and then judged on its content).
    const under = 'y'.repeat(1024 * 1024 - 200);
    await rejected({ method: 'POST', path: '/vault/consumers', body: { consumer_id: GHOST, pad: under } }, 400, 'RequestValidationError');
  });

  it('an unknown unified_api is 400, an unknown service_id is 404', async () => {
    await rejected({ method: 'GET', path: '/vault/connections/nope/pipedrive', consumer: EXISTING }, 400, 'RequestValidationError');
    await rejected({ method: 'PATCH', path: '/vault/connections/nope/pipedrive', consumer: GHOST, body: { settings: { api_key: SECRET } } }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/connections?api=nope', consumer: EXISTING }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/custom-mappings/nope/pipedrive', consumer: EXISTING }, 400, 'RequestValidationError');
    await rejected({ method: 'POST', path: '/vault/custom-mappings/nope/pipedrive/nope+leads+x', consumer: GHOST, body: { value: '$.x' } }, 400, 'RequestValidationError');

    await rejected({ method: 'GET', path: '/vault/connections/crm/nope', consumer: EXISTING }, 404, 'EntityNotFoundError');
    await rejected({ method: 'PATCH', path: '/vault/connections/crm/nope', consumer: GHOST, body: { settings: { api_key: SECRET } } }, 404, 'EntityNotFoundError');
    await rejected({ method: 'POST', path: '/vault/connections/crm/nope', consumer: GHOST, body: { enabled: true } }, 404, 'EntityNotFoundError');
    await rejected({ method: 'DELETE', path: '/vault/connections/crm/nope', consumer: EXISTING }, 404, 'EntityNotFoundError');
    // A connector that exists but not under this unified API.
    await rejected({ method: 'PATCH', path: '/vault/connections/crm/zendesk', consumer: GHOST, body: { enabled: true } }, 404, 'EntityNotFoundError');
    await rejected({ method: 'GET', path: '/vault/custom-mappings/crm/nope', consumer: EXISTING }, 404, 'EntityNotFoundError');
    await rejected({ method: 'POST', path: '/vault/custom-mappings/crm/nope/crm+leads+x', consumer: GHOST, body: { value: '$.x' } }, 404, 'EntityNotFoundError');
    await rejected({ method: 'PATCH', path: '/vault/connections/crm/pipedrive/nope/config', consumer: GHOST, body: {} }, 404, 'EntityNotFoundError');
  });

  it('bad cursors and limits are 400', async () => {
    const notOurs = Buffer.from(JSON.stringify({ x: 1 })).toString('base64url');
    for (const path of ['/vault/consumers', '/vault/logs']) {
      const consumer = path === '/vault/logs' ? EXISTING : undefined;
      for (const cursor of ['%%%garbage', 'abc', notOurs]) {
        await rejected({ method: 'GET', path: `${path}?cursor=${encodeURIComponent(cursor)}`, consumer }, 400, 'RequestValidationError');
      }
      await rejected({ method: 'GET', path: `${path}?cursor=a&cursor=b`, consumer }, 400, 'RequestValidationError');
      for (const limit of ['0', '201', 'abc', '-1', '1.5', '1e2']) {
        await rejected({ method: 'GET', path: `${path}?limit=${limit}`, consumer }, 400, 'RequestValidationError');
      }
      for (const limit of ['1', '200']) await okJson(await send({ method: 'GET', path: `${path}?limit=${limit}`, consumer }));
    }
  });

  it('unknown filter keys are 400', async () => {
    await rejected({ method: 'GET', path: '/vault/consumers?filter[foo]=x' }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/consumers?filter=x' }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/consumers?filter[consumer_id]=a&filter[consumer_id]=b' }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/logs?filter[foo]=x', consumer: EXISTING }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/logs?filter=x', consumer: EXISTING }, 400, 'RequestValidationError');
    await rejected({ method: 'GET', path: '/vault/connections?configured=maybe', consumer: EXISTING }, 400, 'RequestValidationError');
    // Known filters still work.
    const found = await okJson(await send({ method: 'GET', path: `/vault/consumers?filter[consumer_id]=${EXISTING}` }));
    expect(found.data.map((c: Json) => c.consumer_id)).toEqual([EXISTING]);
    await okJson(await send({ method: 'GET', path: '/vault/logs?filter[exclude_unified_apis]=vault&filter[path_match_mode]=CONTAINS', consumer: EXISTING }));
  });

  it('a missing x-apideck-app-id is 400 RequestHeadersValidationError', async () => {
    const noApp = (consumer?: string) => ({ authorization: `Bearer ${coffer.apiKey}`, ...(consumer ? { 'x-apideck-consumer-id': consumer } : {}) });
    for (const req of [
      { method: 'GET', path: '/vault/consumers', headers: noApp() },
      { method: 'POST', path: '/vault/consumers', headers: noApp(), body: { consumer_id: GHOST } },
      { method: 'GET', path: '/vault/connections', headers: noApp(EXISTING) },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', headers: noApp(GHOST), body: { settings: { api_key: SECRET } } },
      { method: 'POST', path: '/vault/sessions', headers: noApp(GHOST), body: {} },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', headers: { ...noApp(GHOST), 'x-apideck-app-id': '  ' }, body: { enabled: true } },
    ]) {
      const err = await rejected(req, 400, 'RequestHeadersValidationError');
      expect(JSON.stringify(err.detail)).toContain('x-apideck-app-id');
    }
  });

  it('a missing consumer header on consumer-scoped routes is 400 RequestHeadersValidationError', async () => {
    for (const req of [
      { method: 'GET', path: '/vault/connections/crm/pipedrive' },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', body: { settings: { api_key: SECRET } } },
      { method: 'POST', path: '/vault/connections/crm/pipedrive', body: { enabled: true } },
      { method: 'DELETE', path: '/vault/connections/crm/pipedrive' },
      { method: 'POST', path: '/vault/connections/crm/pipedrive/validate' },
      { method: 'GET', path: '/vault/connections/crm/pipedrive/consent' },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive/consent', body: { granted: true, resources: '*' } },
      { method: 'POST', path: '/vault/connections/crm/hubspot/import', body: { credentials: { access_token: SECRET } } },
      { method: 'GET', path: '/vault/custom-mappings/crm/pipedrive' },
      { method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', body: { value: '$.x' } },
      { method: 'POST', path: '/vault/sessions', body: {} },
      { method: 'GET', path: '/vault/logs' },
      { method: 'PATCH', path: '/vault/connections/crm/pipedrive', headers: { ...coffer.headers(), 'x-apideck-consumer-id': ' ' }, body: { enabled: true } },
    ] as Req[]) {
      const err = await rejected(req, 400, 'RequestHeadersValidationError');
      expect(JSON.stringify(err.detail)).toContain('x-apideck-consumer-id');
    }
  });

  it('missing or wrong credentials are 401 and never echoed', async () => {
    const wrongKey = 'cof_' + crypto.randomBytes(32).toString('base64url');
    const appId = coffer.appId;
    const cases: Array<[Record<string, string>, string[]]> = [
      [{ 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, []],
      [{ authorization: '', 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, []],
      [{ authorization: 'Bearer', 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, []],
      [{ authorization: `Bearer ${wrongKey}`, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, [wrongKey]],
      [{ authorization: wrongKey, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, [wrongKey]],
      [{ authorization: `Basic ${Buffer.from(`user:${wrongKey}`).toString('base64')}`, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, [wrongKey]],
      // A's key presented without the Bearer prefix is still refused, and not echoed.
      [{ authorization: coffer.apiKey, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': GHOST }, [coffer.apiKey]],
      [{ authorization: `Bearer ${coffer.apiKey}`, 'x-apideck-app-id': 'app_does_not_exist', 'x-apideck-consumer-id': GHOST }, [coffer.apiKey]],
    ];
    for (const [headers, secrets] of cases) {
      await rejected({ method: 'GET', path: '/vault/consumers', headers }, 401, 'UnauthorizedError', secrets);
      await rejected(
        { method: 'PATCH', path: '/vault/connections/crm/pipedrive', headers, body: { settings: { api_key: SECRET } } },
        401,
        'UnauthorizedError',
        [SECRET, ...secrets],
      );
      await rejected({ method: 'POST', path: '/vault/sessions', headers, body: {} }, 401, 'UnauthorizedError', secrets);
    }
  });

  it('an invalid value for a typed form field is 400 and stores nothing', async () => {
    await rejected(
      {
        method: 'PATCH',
        path: '/vault/connections/customer-support/zendesk',
        consumer: GHOST,
        body: { settings: { subdomain: 'acme', email: 'not-an-email', api_key: SECRET } },
      },
      400,
      'RequestValidationError',
    );
    await rejected(
      { method: 'PATCH', path: '/vault/connections/crm/salesforce', consumer: GHOST, body: { settings: { instance_url: 'not a url' } } },
      400,
      'RequestValidationError',
    );
    await rejected(
      { method: 'PATCH', path: '/vault/connections/crm/salesforce', consumer: EXISTING, body: { settings: { instance_url: 'ftp://files.example' } } },
      400,
      'RequestValidationError',
    );
    // Valid settings first, an invalid part later in the same body: the transaction leaves nothing behind.
    await rejected(
      {
        method: 'PATCH',
        path: '/vault/connections/crm/pipedrive',
        consumer: EXISTING,
        body: { settings: { api_key: SECRET }, configuration: [{ resource: 'nope', defaults: [] }] },
      },
      400,
      'RequestValidationError',
    );
    await rejected(
      {
        method: 'PATCH',
        path: '/vault/connections/crm/pipedrive',
        consumer: GHOST,
        body: { enabled: true, settings: { api_key: SECRET }, custom_mappings: [{ value: '$.x' }] },
      },
      400,
      'RequestValidationError',
    );
    const stored = await okJson(await send({ method: 'GET', path: `/vault/consumers/${EXISTING}` }));
    expect(stored.data.services).toEqual(['pipedrive']);
  });

  it('an invalid session_length or redirect_uri is 400 and creates no consumer', async () => {
    for (const length of ['forever', '2w', '8d', '0s', '', '-1h', '1y', '1.5h']) {
      await rejected({ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: { session_length: length } } }, 400, 'RequestValidationError');
    }
    await rejected({ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { settings: { session_length: 3600 } } }, 400, 'RequestValidationError');
    await rejected({ method: 'POST', path: '/vault/sessions', consumer: GHOST, body: { redirect_uri: 'not a url' } }, 400, 'RequestValidationError');
    // The limit itself is fine.
    await okJson(await send({ method: 'POST', path: '/vault/sessions', consumer: EXISTING, body: { settings: { session_length: '1w' } } }));
  });

  it("a consumer of another application is 404 and untouched", async () => {
    await rejected({ method: 'GET', path: '/vault/consumers/only-in-b' }, 404, 'EntityNotFoundError');
    await rejected({ method: 'PATCH', path: '/vault/consumers/only-in-b', body: { metadata: { account_name: 'hijack' } } }, 404, 'EntityNotFoundError');
    await rejected({ method: 'DELETE', path: '/vault/consumers/only-in-b' }, 404, 'EntityNotFoundError');
    await rejected(
      { method: 'GET', path: '/vault/consumers/only-in-b/stats?start_datetime=2000-01-01T00:00:00Z&end_datetime=2100-01-01T00:00:00Z' },
      404,
      'EntityNotFoundError',
    );
    await rejected({ method: 'GET', path: '/vault/consumers/never-existed' }, 404, 'EntityNotFoundError');
    const inB = await okJson(
      await send({ method: 'GET', path: '/vault/consumers/only-in-b', headers: { authorization: `Bearer ${appB.api_key}`, 'x-apideck-app-id': appB.application_id } }),
    );
    expect(inB.data.metadata).toEqual({ account_name: 'B' });
  });

  it('other bad requests: unknown routes, wrong media type, bad stats dates', async () => {
    await rejected({ method: 'GET', path: '/vault/nothing-here', consumer: EXISTING }, 404, 'NotFoundError');
    await rejected({ method: 'POST', path: '/vault/consumers', body: `consumer_id=${GHOST}`, contentType: 'application/x-www-form-urlencoded' }, 415, 'UnsupportedMediaTypeError');
    await rejected({ method: 'POST', path: '/vault/consumers', body: `<consumer id="${GHOST}"/>`, contentType: 'application/xml' }, 415, 'UnsupportedMediaTypeError');
    // Only JSON bodies are read: text/plain is refused as a media type, not parsed as a string.
    await rejected({ method: 'POST', path: '/vault/consumers', body: JSON.stringify({ consumer_id: GHOST }), contentType: 'text/plain' }, 415, 'UnsupportedMediaTypeError');
    await rejected({ method: 'GET', path: `/vault/consumers/${EXISTING}/stats` }, 400, 'RequestValidationError');
    await rejected(
      { method: 'GET', path: `/vault/consumers/${EXISTING}/stats?start_datetime=2020-01-02T00:00:00Z&end_datetime=2020-01-01T00:00:00Z` },
      400,
      'RequestValidationError',
    );
    await rejected({ method: 'POST', path: '/vault/connections/crm/pipedrive/migrate', consumer: EXISTING, body: { target_service_id: 'hubspot' } }, 400, 'RequestValidationError');
  });

  it('POST …/validate accepts an empty JSON body but not one with properties', async () => {
    const path = '/vault/connections/crm/pipedrive/validate';
    const empty = await okJson(await send({ method: 'POST', path, consumer: EXISTING, body: '' }));
    expect(empty.data).toEqual({ id: 'crm+pipedrive', state: 'callable' });
    await okJson(await send({ method: 'POST', path, consumer: EXISTING }));
    await okJson(await send({ method: 'POST', path, consumer: EXISTING, body: '{}' }));
    await okJson(await send({ method: 'POST', path, consumer: EXISTING, body: '  \n ' }));
    await rejected({ method: 'POST', path, consumer: EXISTING, body: { foo: 1 } }, 400, 'RequestValidationError');
    await rejected({ method: 'POST', path, consumer: EXISTING, body: { api_key: SECRET } }, 400, 'RequestValidationError');
    await rejected({ method: 'POST', path, consumer: EXISTING, body: '[]' }, 400, 'RequestValidationError');
    // No connection yet: 404, and the consumer is not created by the check.
    await rejected({ method: 'POST', path, consumer: GHOST, body: '' }, 404, 'EntityNotFoundError');
  });

  it('writing a connection for an unknown consumer creates the consumer', async () => {
    await rejected({ method: 'GET', path: '/vault/consumers/brand-new' }, 404, 'EntityNotFoundError');
    await okJson(await send({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: 'brand-new', body: { settings: { api_key: SECRET } } }));
    const consumer = await okJson(await send({ method: 'GET', path: '/vault/consumers/brand-new' }));
    expect(consumer.data.consumer_id).toBe('brand-new');
    expect(consumer.data.services).toEqual(['pipedrive']);
    expect(JSON.stringify(consumer)).not.toContain(SECRET);

    await okJson(await send({ method: 'POST', path: '/vault/connections/project-management/jsonplaceholder', consumer: 'brand-new-2', body: { enabled: true } }));
    await okJson(await send({ method: 'GET', path: '/vault/consumers/brand-new-2' }));

    await okJson(await send({ method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/crm+leads+foo', consumer: 'brand-new-3', body: { value: '$.foo' } }));
    await okJson(await send({ method: 'GET', path: '/vault/consumers/brand-new-3' }));

    // The ghost consumer every rejected request above named was never created.
    await rejected({ method: 'GET', path: `/vault/consumers/${GHOST}` }, 404, 'EntityNotFoundError');
  });

  // Input is bounded in one place (src/http/input-bounds.ts) so that SQLite and PostgreSQL accept and refuse the same
  // requests: what PostgreSQL cannot store, or what cannot be serialised back, never reaches either.
  describe('hostile input is refused the same way on every backend', () => {
    const nested = (depth: number) => '['.repeat(depth - 1) + '{"leaf":true}' + ']'.repeat(depth - 1);

    it(`free-form JSON deeper than ${MAX_JSON_DEPTH} levels is a 400 wherever it is sent`, async () => {
      const deep = nested(5_000);
      const bodies: Req[] = [
        { method: 'POST', path: '/vault/consumers', body: `{"consumer_id":"${GHOST}","metadata":{"account_name":"x","extra":${deep}}}` },
        { method: 'PATCH', path: `/vault/consumers/${EXISTING}`, body: `{"metadata":{"extra":${deep}}}` },
        { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: `{"metadata":{"x":${deep}}}` },
        { method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: GHOST, body: `{"settings":{"api_key":"${SECRET}"},"metadata":${deep}}` },
        { method: 'PATCH', path: '/vault/connections/crm/pipedrive/consent', consumer: EXISTING, body: `{"granted":true,"resources":{"x":${deep}}}` },
        { method: 'POST', path: '/vault/sessions', consumer: GHOST, body: `{"custom_consumer_settings":{"x":${deep}}}` },
      ];
      for (const req of bodies) {
        const body = await rejected(req, 400, 'RequestValidationError');
        expect(body.message).toMatch(`nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
      // Up to the bound it is stored and read back whole.
      const fits = JSON.parse(nested(MAX_JSON_DEPTH - 2));
      await okJson(await send({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: { metadata: { fits } } }));
      const read = await okJson(await send({ method: 'GET', path: '/vault/connections/crm/pipedrive', consumer: EXISTING }));
      expect(read.data.metadata.fits).toEqual(fits);
    });

    it('a NUL or an unpaired surrogate in a path, a query filter, a body value or a body key is a 400', async () => {
      await rejected({ method: 'GET', path: '/vault/consumers/a%00b' }, 400, 'RequestValidationError');
      await rejected({ method: 'DELETE', path: '/vault/consumers/a%00b' }, 400, 'RequestValidationError');
      await rejected({ method: 'GET', path: '/vault/connections/crm/pipedrive%00' , consumer: EXISTING }, 400, 'RequestValidationError');
      await rejected({ method: 'GET', path: '/vault/logs?filter[service_id]=pipe%00drive', consumer: EXISTING }, 400, 'RequestValidationError');
      await rejected({ method: 'GET', path: '/vault/consumers?search=a%00' }, 400, 'RequestValidationError');
      for (const text of ['a\\u0000b', '\\ud800', 'x\\udfffy', '\\udc00\\ud800']) {
        await rejected({ method: 'POST', path: '/vault/consumers', body: `{"consumer_id":"${text}"}` }, 400, 'RequestValidationError');
        await rejected({ method: 'POST', path: '/vault/consumers', body: `{"consumer_id":"${GHOST}","metadata":{"account_name":"${text}"}}` }, 400, 'RequestValidationError');
        await rejected({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: `{"settings":{"api_key":"${SECRET}${text}"}}` }, 400, 'RequestValidationError');
        await rejected({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: EXISTING, body: `{"metadata":{"${text}":1}}` }, 400, 'RequestValidationError');
      }
      // A surrogate pair is a character like any other.
      const emoji = await okJson(await send({ method: 'POST', path: '/vault/consumers', body: `{"consumer_id":"emoji-\\ud83d\\ude00"}` }));
      expect(emoji.data.consumer_id).toBe('emoji-\u{1F600}');
      await okJson(await send({ method: 'GET', path: `/vault/consumers/${encodeURIComponent('emoji-\u{1F600}')}` }));
    });

    it(`ids longer than ${MAX_ID_LENGTH} characters are a 400 in a header, a path or a body`, async () => {
      const longest = 'c'.repeat(MAX_ID_LENGTH - 1) + '\u{1F600}';
      await rejected({ method: 'GET', path: '/vault/connections', consumer: 'c'.repeat(4_500) }, 400, 'RequestValidationError');
      await rejected({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: 'c'.repeat(MAX_ID_LENGTH + 1), body: { settings: { api_key: SECRET } } }, 400, 'RequestValidationError');
      await rejected({ method: 'GET', path: `/vault/consumers/${'c'.repeat(MAX_ID_LENGTH + 1)}` }, 400, 'RequestValidationError');
      await rejected({ method: 'POST', path: '/vault/consumers', body: { consumer_id: `${longest}x` } }, 400, 'RequestValidationError');
      await rejected({ method: 'POST', path: '/vault/custom-mappings/crm/pipedrive/' + 'f'.repeat(MAX_ID_LENGTH + 1), consumer: EXISTING, body: { value: '$.x' } }, 400, 'RequestValidationError');
      // Past what the router takes at all: still the envelope.
      const router = await rejected({ method: 'GET', path: `/vault/consumers/${'%C3%A9'.repeat(1_000)}` }, 400, 'RequestValidationError');
      expect(router.message).toMatch(`longer than ${MAX_ID_LENGTH} characters`);
      // At the bound, counted in characters: created, then found by path and by header.
      await okJson(await send({ method: 'POST', path: '/vault/consumers', body: { consumer_id: longest } }));
      await okJson(await send({ method: 'GET', path: `/vault/consumers/${encodeURIComponent(longest)}` }));
      const ascii = 'h'.repeat(MAX_ID_LENGTH);
      await okJson(await send({ method: 'PATCH', path: '/vault/connections/crm/pipedrive', consumer: ascii, body: { settings: { api_key: 'pd-long' } } }));
      await okJson(await send({ method: 'GET', path: '/vault/connections/crm/pipedrive', consumer: ascii }));
    });

    it('a path that is not valid percent-encoded UTF-8 is a 400 envelope; under /api/v2 in Auth0\'s shape', async () => {
      for (const path of ['/vault/consumers/%E0%A4%A', '/vault/consumers/%ED%A0%80', '/vault/connections/crm/%zz']) {
        const body = await rejected({ method: 'GET', path, consumer: EXISTING }, 400, 'RequestValidationError');
        expect(body.message).toBe('The request path is not valid percent-encoded UTF-8');
      }
      const token = await managementToken(coffer);
      expectAuth0Error(await flowsCall(coffer, token, 'GET', '/%E0%A4%A'), 400, 'invalid_uri');
      expectAuth0Error(await flowsCall(coffer, token, 'GET', `/${'a'.repeat(4_000)}`), 400, 'invalid_uri');
      expectAuth0Error(await flowsCall(coffer, token, 'GET', '/ac_%00'), 400, 'invalid_request');
      expectAuth0Error(await flowsCall(coffer, token, 'POST', '', { name: 'x\u0000', app_id: 'GITHUB', setup: { type: 'BEARER', token: 'x' } }), 400, 'invalid_request');
      expectAuth0Error(await flowsCall(coffer, token, 'POST', '', undefined, { form: 'name=a%00b&app_id=GITHUB&setup[type]=BEARER&setup[token]=x' }), 400, 'invalid_request');
    });

    it('integer filters beyond what a database integer holds are a 400', async () => {
      for (const filter of ['execution_attempt', 'status_code']) {
        await rejected({ method: 'GET', path: `/webhook/logs?filter[${filter}]=99999999999` }, 400, 'RequestValidationError');
        await okJson(await send({ method: 'GET', path: `/webhook/logs?filter[${filter}]=2147483647` }));
      }
      await rejected({ method: 'GET', path: '/vault/logs?filter[status_code]=99999999999', consumer: EXISTING }, 400, 'RequestValidationError');
    });

    it('headers larger than the server accepts are a 431 with an error body, and the server keeps serving', async () => {
      const res = await fetch(`${coffer.url}/vault/consumers`, { headers: { ...coffer.headers(), 'x-padding': 'p'.repeat(40_000) } });
      expect(res.status).toBe(431);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ status_code: 431, statusCode: 431, error: 'Request Header Fields Too Large', type_name: 'RequestHeaderFieldsTooLargeError', errorCode: 'bad_request' });
      expect(typeof body.message).toBe('string');
      await okJson(await send({ method: 'GET', path: '/vault/consumers' }));
    });
  });
});
