// Requests from the OpenAPI document: an operation, its path parameters (known good ids mostly, hostile ones
// otherwise), query parameters, headers (auth variants, consumer ids, proxy instructions, odd headers) and a body made
// from the request schema, then mutated. Request i is a pure function of (seed, i, setup), see prng.mjs.
import { Rng } from './prng.mjs';

/** Auth0's Flows Vault operations are hidden from /openapi.json: added here (src/http/routes/flows-vault.ts). */
const FLOWS = '/api/v2/flows/vault/connections';
const FLOWS_SETUP = {
  anyOf: [
    { type: 'object', required: ['type', 'api_key'], properties: { type: { enum: ['API_KEY'] }, api_key: { type: 'string', minLength: 1 } } },
    { type: 'object', required: ['type', 'token'], properties: { type: { enum: ['TOKEN', 'BEARER'] }, token: { type: 'string', minLength: 1 } } },
    { type: 'object', required: ['type', 'url'], properties: { type: { enum: ['WEBHOOK'] }, url: { enum: ['https://hooks.fuzz.example/x'] } } },
    { type: 'object', required: ['type', 'algorithm'], properties: { type: { enum: ['JWT'] }, algorithm: { enum: ['HS256', 'RS256'] } }, additionalProperties: {} },
    { type: 'object', required: ['type', 'code'], properties: { type: { enum: ['OAUTH_CODE'] }, code: { type: 'string' } }, additionalProperties: {} },
    { type: 'object', required: ['type', 'username'], properties: { type: { enum: ['BASIC_AUTH'] }, username: { type: 'string', maxLength: 155 }, password: { type: 'string' } } },
    {
      type: 'object',
      required: ['type', 'client_id', 'client_secret', 'token_endpoint'],
      properties: { type: { enum: ['OAUTH_CLIENT_CREDENTIALS'] }, client_id: { type: 'string' }, client_secret: { type: 'string' }, token_endpoint: { enum: ['{stub}/token'] } },
    },
    { type: 'object', required: ['type', 'client_id', 'client_secret', 'domain'], properties: { type: { enum: ['OAUTH_APP'] }, client_id: { type: 'string' }, client_secret: { type: 'string' }, domain: { enum: ['tenant.fuzz.example'] } } },
  ],
};
const FLOWS_BODY = {
  type: 'object',
  required: ['name', 'app_id', 'setup'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 150 },
    app_id: { enum: ['AIRTABLE', 'HTTP', 'TELEGRAM', 'SLACK', 'JWT', 'PIPEDRIVE', 'AUTH0', 'HUBSPOT', 'ZAPIER'] },
    setup: FLOWS_SETUP,
  },
};
const FLOWS_OPERATIONS = [
  { method: 'GET', template: FLOWS, body: null },
  { method: 'POST', template: FLOWS, body: FLOWS_BODY },
  { method: 'GET', template: `${FLOWS}/{id}`, body: null },
  { method: 'PATCH', template: `${FLOWS}/{id}`, body: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, setup: FLOWS_SETUP } } },
  { method: 'DELETE', template: `${FLOWS}/{id}`, body: null },
];

/** Query parameters the routes read (the document does not declare them): name → value makers. */
const LOG_FILTERS = ['connector_id', 'path', 'path_match_mode', 'http_method', 'http_methods', 'start_date', 'end_date', 'status_code', 'status_codes', 'exclude_unified_apis'];
const WEBHOOK_LOG_FILTERS = ['exclude_apis', 'service', 'consumer_id', 'entity_type', 'event_type', 'start_date', 'end_date', 'success', 'status_code', 'status_codes', 'event_id', 'execution_attempt', 'service][id'];
const QUERY = {
  'GET /vault/consumers': ['limit', 'cursor', 'filter[consumer_id]', 'filter[search]'],
  'GET /vault/consumers/{consumer_id}/stats': ['start_datetime', 'end_datetime'],
  'GET /vault/connections': ['api', 'configured'],
  'GET /vault/logs': ['limit', 'cursor', ...LOG_FILTERS.map((f) => `filter[${f}]`)],
  'GET /webhook/webhooks': ['limit', 'cursor'],
  'GET /webhook/logs': ['limit', 'cursor', ...WEBHOOK_LOG_FILTERS.map((f) => `filter[${f}]`)],
  [`GET ${FLOWS}`]: ['page', 'per_page', 'include_totals'],
};
const PROXY_BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UNIFIED_APIS = ['ats', 'accounting', 'hris', 'file-storage', 'lead', 'crm'];
const RESOURCES = ['contacts', 'leads', 'companies', 'opportunities', 'users'];
const ODD_METHODS = ['PROPFIND', 'TRACE', 'HEAD', 'OPTIONS', 'PURGE', 'MKCOL'];
const DOWNSTREAM_METHODS = ['HEAD', 'HEAD', 'HEAD', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'head', 'TRACE', 'CONNECT', 'GARBAGE'];

/** Operations: every path + method of the document, plus the Flows Vault ones if the document hides them. */
export function operationsOf(doc) {
  const ops = [];
  for (const [template, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete', 'options', 'head'].includes(method)) continue;
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      ops.push({ method: method.toUpperCase(), template, body, operationId: op.operationId ?? null });
    }
  }
  for (const op of FLOWS_OPERATIONS) if (!ops.some((o) => o.method === op.method && o.template === op.template)) ops.push({ ...op, operationId: null });
  return ops;
}

export const isProxy = (template) => template === '/proxy' || template === '/vault/proxy';
export const isAuth0 = (path) => path.startsWith('/api/v2/');

/** JSON text spliced verbatim into a body (deep nesting, raw control bytes). */
class Raw {
  constructor(text) {
    this.text = text;
  }
}

export function serialize(value) {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
  // JSON.stringify writes NUL as \u0000 and a lone surrogate as \ud800: exactly the escapes a JSON parser turns back
  // into the characters PostgreSQL refuses.
  return JSON.stringify(value) ?? 'null';
}

function deepJson(rng) {
  const depth = rng.int(1000, 10000);
  return rng.chance(0.5) ? new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) : new Raw('['.repeat(depth) + ']'.repeat(depth));
}

function weirdString(rng) {
  return rng.weighted([
    [3, () => `nul\u0000byte`],
    [3, () => `lone\ud800surrogate`],
    [1, () => `\udc00`],
    [2, () => 'x'.repeat(rng.int(10_000, 100_000))],
    [2, () => 'é漢字🙂\u202e'],
    [1, () => ''],
    [1, () => ' '],
    [1, () => '../../etc/passwd'],
    [1, () => '<script>alert(1)</script>'],
    [1, () => '1e309'],
  ])();
}

const isFreeForm = (schema) =>
  schema && (schema.type === 'object' || schema.additionalProperties !== undefined) && !schema.properties && (schema.additionalProperties === undefined || schema.additionalProperties === true || (typeof schema.additionalProperties === 'object' && Object.keys(schema.additionalProperties).length === 0));

/** A value valid for the schema (as far as this small generator understands schemas). */
function generate(rng, schema, ctx, depth = 0, out = { objects: [], freeForm: [] }, path = []) {
  if (!schema || typeof schema !== 'object') return 'x';
  if (schema.enum) {
    const value = rng.pick(schema.enum);
    return typeof value === 'string' ? value.replace('{stub}', ctx.stubUrl) : value;
  }
  if (schema.anyOf || schema.oneOf) return generate(rng, rng.pick(schema.anyOf ?? schema.oneOf), ctx, depth, out, path);
  if (schema.nullable && rng.chance(0.05)) return null;
  const type = Array.isArray(schema.type) ? rng.pick(schema.type) : schema.type;
  if (type === 'object' || schema.properties || schema.additionalProperties !== undefined) {
    const obj = {};
    out.objects.push(path);
    if (isFreeForm(schema)) out.freeForm.push(path);
    const required = new Set(schema.required ?? []);
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      if (required.has(key) || (depth < 4 && rng.chance(0.6))) obj[key] = generate(rng, sub, ctx, depth + 1, out, [...path, key]);
    }
    if (schema.additionalProperties && depth < 4) {
      const extra = rng.int(0, 3);
      const sub = schema.additionalProperties === true ? {} : schema.additionalProperties;
      for (let i = 0; i < extra; i++) {
        const key = rng.pick(['api_key', 'region', 'workspace', 'note', 'tags', 'nested']);
        obj[key] = Object.keys(sub).length ? generate(rng, sub, ctx, depth + 1, out, [...path, key]) : rng.pick(['v', 1, true, { k: 'v' }, ['a']]);
      }
    }
    return obj;
  }
  if (type === 'array') {
    const n = rng.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3));
    return Array.from({ length: n }, (_, i) => generate(rng, schema.items ?? {}, ctx, depth + 1, out, [...path, i]));
  }
  if (type === 'integer' || type === 'number') return rng.int(schema.minimum ?? 0, Math.min(schema.maximum ?? 5000, 5000));
  if (type === 'boolean') return rng.chance(0.5);
  if (type === 'string') {
    if (schema.format === 'uri' || /url|uri/.test(path[path.length - 1] ?? '')) return rng.pick([`${ctx.stubUrl}/webhook`, 'https://app.fuzz.example/cb']);
    const min = schema.minLength ?? 0;
    return rng.string(Math.max(min, 1), Math.max(min, Math.min(schema.maxLength ?? 16, 16)));
  }
  return rng.pick(['x', 1, true, null, { k: 'v' }]);
}

function getAt(root, path) {
  return path.reduce((node, key) => (node == null ? undefined : node[key]), root);
}
function setAt(root, path, value) {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1));
  if (parent && typeof parent === 'object' && !(parent instanceof Raw)) parent[path[path.length - 1]] = value;
  return root;
}

/** 1–3 mutations of a generated body; returns [body, notes]. */
function mutate(rng, body, shape, schema) {
  const notes = [];
  const count = rng.int(1, 3);
  for (let i = 0; i < count; i++) {
    const kind = rng.weighted([[3, 'deep'], [3, 'nul'], [3, 'surrogate'], [2, 'wrong-type'], [2, 'drop-required'], [2, 'extra-prop'], [1, 'huge-string'], [1, 'null']]);
    const objects = shape.objects.length ? shape.objects : [[]];
    if (kind === 'deep') {
      const target = shape.freeForm.length && rng.chance(0.8) ? rng.pick(shape.freeForm) : rng.pick(objects);
      const parent = getAt(body, target);
      if (parent && typeof parent === 'object' && !Array.isArray(parent)) parent[rng.pick(['nested', 'deep', 'a'])] = deepJson(rng);
      else body = setAt(body, target, deepJson(rng));
    } else if (kind === 'nul' || kind === 'surrogate' || kind === 'huge-string') {
      const parent = getAt(body, rng.pick(objects));
      const text = kind === 'nul' ? `a\u0000b` : kind === 'surrogate' ? `a\ud800b` : 'y'.repeat(rng.int(10_000, 200_000));
      if (parent && typeof parent === 'object' && !(parent instanceof Raw)) {
        const keys = Object.keys(parent);
        const key = keys.length && rng.chance(0.7) ? rng.pick(keys) : rng.pick(['name', 'api_key', 'note']);
        // Keys, too: a NUL in a property name reaches JSON columns as well.
        if (rng.chance(0.15)) parent[`k${text.slice(0, 3)}`] = 'v';
        else parent[key] = typeof parent[key] === 'object' && parent[key] && !Array.isArray(parent[key]) ? { ...parent[key], v: text } : text;
      }
    } else if (kind === 'wrong-type') {
      const parent = getAt(body, rng.pick(objects));
      if (parent && typeof parent === 'object' && !(parent instanceof Raw)) {
        const keys = Object.keys(parent);
        if (keys.length) parent[rng.pick(keys)] = rng.pick([42, -1, 1.5, true, null, [], {}, 'str', [1, { a: null }], 1e308]);
      }
    } else if (kind === 'drop-required') {
      for (const key of schema?.required ?? []) if (body && typeof body === 'object' && rng.chance(0.7)) delete body[key];
    } else if (kind === 'extra-prop') {
      const parent = getAt(body, rng.pick(objects));
      if (parent && typeof parent === 'object' && !(parent instanceof Raw)) parent[rng.pick(['__proto__', 'constructor', 'unexpected', 'id', 'application_id'])] = rng.pick(['x', { polluted: true }, 1]);
    } else if (kind === 'null') {
      const target = rng.pick(objects);
      if (target.length) body = setAt(body, target, null);
    }
    notes.push(kind);
  }
  return [body, notes];
}

/** encodeURIComponent, except a lone surrogate becomes its WTF-8 bytes (%ED%A0%80) instead of a URIError. */
function pct(text) {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[^\ud800-\udfff]+|[\ud800-\udbff][\udc00-\udfff]/g, (part) => {
    if (part.length === 1 && part.charCodeAt(0) >= 0xd800 && part.charCodeAt(0) <= 0xdfff) {
      const c = part.charCodeAt(0);
      return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
    return encodeURIComponent(part);
  });
}

function formEncode(value, prefix = '') {
  const parts = [];
  for (const [key, v] of Object.entries(value ?? {})) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (v && typeof v === 'object' && !(v instanceof Raw)) parts.push(formEncode(v, name));
    else parts.push(`${pct(name)}=${pct(v instanceof Raw ? v.text.slice(0, 100_000) : String(v))}`);
  }
  return parts.filter(Boolean).join('&');
}

/** A JSON-ish body for an operation with a request schema → { body: Buffer|null, contentType, notes }. */
function jsonBody(rng, schema, ctx, { form = false } = {}) {
  const mode = rng.weighted([[40, 'valid'], [38, 'mutated'], [5, 'non-json'], [4, 'empty'], [3, 'big'], [5, 'other-json'], [2, 'raw-control'], [3, 'deep-top']]);
  const shape = { objects: [], freeForm: [] };
  let value = generate(rng, schema, ctx, 0, shape);
  let notes = [mode];
  let text;
  if (mode === 'mutated') {
    [value, notes] = mutate(rng, value, shape, schema);
    notes.unshift('mutated');
  }
  if (mode === 'valid' || mode === 'mutated') text = form ? formEncode(value) : serialize(value);
  else if (mode === 'non-json') text = rng.pick(['{"a":', 'hello', '<xml/>', '{"a":1}}', "{'a':1}", '\u00ff\u00fe', 'null null']);
  else if (mode === 'empty') text = '';
  else if (mode === 'big') text = serialize({ ...(value && typeof value === 'object' ? value : {}), padding: 'z'.repeat(rng.int(1_000_000, 2_000_000)) });
  else if (mode === 'other-json') text = rng.pick(['[]', '1', 'null', '"x"', 'true', '[{"consumer_id":"x"}]', '{}']);
  else if (mode === 'raw-control') text = `{"name":"a\u0000b","metadata":{"k":"\u0001"}}`;
  else text = deepJson(rng).text;
  const contentType = form ? 'application/x-www-form-urlencoded' : 'application/json';
  return { body: Buffer.from(text, 'utf8'), contentType, notes };
}

function pathValue(rng, name, method, template, ctx) {
  if (name === 'consumer_id') {
    if (method === 'DELETE') return rng.pick(ctx.consumers.scratch);
    return rng.pick(method === 'GET' ? ctx.consumers.read : ctx.consumers.write);
  }
  if (name === 'unified_api') return rng.chance(0.8) ? 'crm' : rng.pick(UNIFIED_APIS);
  if (name === 'service_id') {
    if (method === 'DELETE' && !template.includes('custom-mappings')) return rng.pick(['pipedrive', 'hubspot', 'fuzz-oauth']);
    return rng.weighted([[4, 'fuzz-proxy'], [3, 'fuzz-oauth'], [3, 'pipedrive'], [1, 'salesforce'], [1, 'hubspot'], [1, 'no-such-connector']]);
  }
  if (name === 'resource') return rng.pick(RESOURCES);
  if (name === 'target_field_id') return rng.pick(['fuzz-field', 'first_name', rng.string(1, 20)]);
  if (name === 'id') {
    if (template.startsWith('/api/v2/')) return method === 'DELETE' && rng.chance(0.7) ? `ac_${rng.string(22, 22, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}` : ctx.flowsId;
    return method === 'DELETE' && rng.chance(0.7) ? rng.string(8, 30) : ctx.webhookId;
  }
  return rng.string();
}

/** Hostile path segments, already percent-encoded as they go on the wire. */
function hostileSegment(rng) {
  return rng.weighted([
    [3, () => 'a'.repeat(rng.int(101, 400))],
    [2, () => rng.string(4000, 5000)],
    [3, () => rng.pick(['%00', 'x%00y', '%00%00'])],
    [3, () => rng.pick(['%ED%A0%80', 'a%ED%B0%80b', '%ED%A0%80%ED%A0%80'])],
    [3, () => rng.pick(['%E0%A4%A', '%E0%A4', '%FF', '%', '%zz', '%C0%AF'])],
    [2, () => encodeURIComponent(rng.pick(['é漢字🙂', '\u202e', 'ſ', 'İ']))],
    [2, () => rng.pick(['..', '%2e%2e%2f..%2f', '..%2F..%2Fetc%2Fpasswd', '.', '%2F'])],
    [1, () => rng.pick(['%20', '+', '%25', '%09', '%0A', "'", '%22'])],
    [1, () => ''],
  ])();
}

function queryValue(rng, name, ctx) {
  if (rng.chance(0.2)) return hostileSegment(rng);
  if (name === 'limit' || name === 'per_page' || name === 'page') return rng.pick(['1', '20', '200', '201', '0', '-1', '1.5', 'abc', '99999999999999999999']);
  if (name === 'cursor') return rng.pick(['abc', 'eyJ4IjoxfQ', '', 'MDAwMA%3D%3D', 'x'.repeat(300)]);
  if (name === 'configured' || name === 'include_totals' || name.includes('success')) return rng.pick(['true', 'false', 'yes']);
  if (name.includes('date')) return rng.pick(['2024-01-01T00:00:00Z', 'yesterday', '2024-13-45', '0', '9999-12-31T23:59:59Z']);
  if (name.includes('status_code') || name.includes('execution_attempt')) return rng.pick(['200', '404', 'abc', '99999999999']);
  if (name.includes('http_method')) return rng.pick(['GET', 'POST', 'get', 'BREW']);
  if (name.includes('consumer_id')) return encodeURIComponent(rng.pick(ctx.consumers.read));
  if (name === 'api') return rng.pick(UNIFIED_APIS);
  return encodeURIComponent(rng.string(1, 20));
}

function consumerHeader(rng, pool) {
  return rng.weighted([
    [85, () => rng.pick(pool)],
    // Random, not repeated: PostgreSQL compresses a repeated character below its index-row limit.
    [4, () => rng.string(4400, 4700)],
    // Header values are bytes: UTF-8 sent raw, as latin1 characters.
    [4, () => Buffer.from(rng.pick(['café', '漢字🙂', 'a\u202eb']), 'utf8').toString('latin1')],
    [2, () => rng.pick(['../other', ' spaced ', '%00', '*', 'a,b'])],
    [5, () => null],
  ])();
}

function proxyTarget(rng, ctx) {
  // [downstream URL, whether it is a deliberately broken provider]
  return rng.weighted([
    [14, () => ['/ok', false]],
    [10, () => ['/echo', false]],
    [3, () => [`${ctx.stubUrl}/v1/echo?x=${rng.int(0, 9)}`, false]],
    [2, () => ['/big', false]],
    [2, () => [`/slow?ms=${rng.int(100, 1500)}`, true]],
    [2, () => ['/empty', false]],
    [2, () => [rng.pick(['/status/404', '/status/429', '/status/401', '/status/201']), false]],
    [3, () => [rng.pick(['/status/500', '/status/502', '/status/503']), true]],
    [2, () => ['/reset', true]],
    [2, () => ['/badheader', true]],
    [2, () => ['/truncated', true]],
    [1, () => ['/hang', true]],
    [1, () => ['http://127.0.0.1:1/unreachable', true]],
    [1, () => ['https://api.fuzz.example/v1/x', true]],
    [2, () => [rng.pick(['ftp://x/y', 'not a url', '//evil.example/x', 'http://user:pw@127.0.0.1/x', 'javascript:alert(1)', '']), false]],
    [2, () => [`/echo/${hostileSegment(rng)}`, false]],
  ])();
}

function authHeaders(rng, ctx, template) {
  const [A, B] = ctx.apps;
  if (isAuth0(template)) {
    return rng.weighted([
      [70, () => [{ authorization: `Bearer ${A.managementToken}` }, false, 'mgmt-A']],
      [10, () => [{ authorization: `Bearer ${B.managementToken}` }, true, 'mgmt-B']],
      [7, () => [{}, true, 'none']],
      [6, () => [{ authorization: `Bearer ${A.apiKey}`, 'x-apideck-app-id': A.appId }, true, 'api-key-A']],
      [4, () => [{ authorization: `Bearer ${ctx.sessionToken}` }, true, 'session']],
      [3, () => [{ authorization: rng.pick(['Bearer x.y.z', 'Basic Zm9vOmJhcg==', 'Bearer', `Bearer ${'a'.repeat(5000)}`]) }, true, 'garbage']],
    ])();
  }
  return rng.weighted([
    [62, () => [{ authorization: `Bearer ${A.apiKey}`, 'x-apideck-app-id': A.appId }, false, 'api-key-A']],
    [10, () => [{ authorization: `Bearer ${ctx.sessionToken}`, ...(rng.chance(0.6) ? { 'x-apideck-auth-type': 'JWT' } : {}), ...(rng.chance(0.3) ? { 'x-apideck-app-id': A.appId } : {}) }, false, 'session']],
    [10, () => [{ authorization: `Bearer ${B.apiKey}`, 'x-apideck-app-id': B.appId }, true, 'api-key-B']],
    [6, () => [{}, true, 'none']],
    [4, () => [{ authorization: `Bearer ${A.apiKey}`, 'x-apideck-app-id': B.appId }, true, 'key-A-app-B']],
    [3, () => [{ authorization: rng.pick(['Bearer garbage', 'Basic Zm9vOmJhcg==', 'Bearer', 'Bearer a.b.c', `Bearer ${'k'.repeat(5000)}`]), 'x-apideck-app-id': A.appId }, true, 'garbage']],
    [2, () => [{ authorization: `Bearer ${A.managementToken}`, 'x-apideck-app-id': A.appId }, true, 'mgmt-token']],
    [3, () => [{ authorization: `Bearer ${A.apiKey}`, 'x-apideck-app-id': rng.pick(['', 'x'.repeat(4500), 'app%00', A.appId.toUpperCase()]) }, true, 'odd-app-id']],
  ])();
}

/**
 * Request i: { op, method, path, headers, body, expect100, foreign, brokenTarget, auth, notes }.
 * `op` is the document's `METHOD template`; `method` what is sent (an odd one now and then).
 */
export function generateRequest(seed, i, ops, ctx) {
  const rng = new Rng(seed, i);
  const op = rng.pick(ops);
  let method = op.method;
  const notes = [];
  if (rng.chance(0.03)) {
    method = rng.pick(ODD_METHODS);
    notes.push(`odd-method`);
  }
  const proxy = isProxy(op.template);

  // Path
  let mutatedPath = false;
  let path = op.template.replace(/\{([^}]+)\}/g, (_, name) => {
    if (rng.chance(0.12)) {
      mutatedPath = true;
      return hostileSegment(rng);
    }
    return encodeURIComponent(pathValue(rng, name, op.method, op.template, ctx));
  });
  if (mutatedPath) notes.push('hostile-path');
  if (rng.chance(0.01)) {
    path += rng.pick(['/', '//', '/extra', '%2F', '/..']);
    notes.push('path-suffix');
  }

  // Query
  const params = [];
  const known = QUERY[`${op.method} ${op.template}`] ?? [];
  for (const name of known) if (rng.chance(0.35)) params.push(`${name}=${queryValue(rng, name, ctx)}`);
  if (known.length && rng.chance(0.1)) {
    const name = rng.pick(known);
    params.push(`${name}=${queryValue(rng, name, ctx)}`, `${name}=${queryValue(rng, name, ctx)}`);
    notes.push('repeated-query');
  }
  if (rng.chance(0.05)) {
    params.push(rng.pick(['__proto__[polluted]=1', 'filter[__proto__]=1', 'unknown=1', 'filter=plain', 'filter[a][b][c]=1', `filter[x]=${hostileSegment(rng)}`, 'limit[]=1', `${'q'.repeat(3000)}=1`]));
    notes.push('odd-query');
  }
  if (params.length) path += `?${params.join('&')}`;

  // Headers
  const [auth, foreign, authName] = authHeaders(rng, ctx, op.template);
  const headers = { ...auth };
  if (!isAuth0(op.template)) {
    const pool = proxy || op.method === 'GET' ? ctx.consumers.read : op.method === 'DELETE' ? ctx.consumers.scratch : ctx.consumers.write;
    const consumer = consumerHeader(rng, authName === 'session' ? [ctx.sessionConsumer] : pool);
    if (consumer !== null) headers['x-apideck-consumer-id'] = consumer;
  }
  let brokenTarget = false;
  if (proxy) {
    const service = rng.weighted([[60, 'fuzz-proxy'], [15, 'fuzz-oauth'], [8, 'pipedrive'], [7, 'no-such-service'], [5, null], [5, 's'.repeat(4600)], [2, 'r'.repeat(100) + String(i)]]);
    if (service !== null) headers['x-apideck-service-id'] = service;
    if (rng.chance(0.95)) {
      const [target, broken] = proxyTarget(rng, ctx);
      headers['x-apideck-downstream-url'] = target;
      // Pipedrive's API is on the internet, which the fuzzed Coffer cannot resolve: its 502 is the provider's.
      brokenTarget = broken || service === 'pipedrive';
    }
    if (rng.chance(0.14)) headers['x-apideck-downstream-method'] = rng.pick(DOWNSTREAM_METHODS);
    if (rng.chance(0.08)) headers['x-apideck-timeout'] = rng.pick(['500', '1', '0', '-1', 'abc', '999999999', '2500']);
    if (rng.chance(0.03)) headers['x-apideck-downstream-authorization'] = rng.pick(['Bearer caller-token', 'Basic eDp5']);
    if (rng.chance(0.05)) headers['x-apideck-unified-api'] = rng.pick(['crm', 'ats', 'nope']);
    if (rng.chance(0.05)) headers[rng.pick(['x-custom-header', 'connection', 'te', 'transfer-encoding-x', 'upgrade-insecure-requests'])] = 'fuzz';
  }
  if (rng.chance(0.05)) headers[rng.pick(['accept', 'accept-encoding', 'origin', 'x-forwarded-for', 'x-request-id'])] = rng.pick(['*/*', 'gzip, br', 'https://evil.example', '1.2.3.4, 5.6.7.8', 'x'.repeat(2000)]);

  // Body
  let body = null;
  const bodyMethod = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
  if (proxy && (PROXY_BODY_METHODS.has(method) || rng.chance(0.05))) {
    const size = rng.weighted([[55, () => rng.int(0, 2000)], [30, () => rng.int(64 * 1024, 200 * 1024)], [5, () => rng.int(1_000_000, 2_000_000)], [10, () => 0]])();
    body = Buffer.alloc(size, 'p');
    if (size && rng.chance(0.5)) body.write(serialize({ fuzz: true, n: i, s: 'a\u0000b' }));
    headers['content-type'] = rng.pick(['application/json', 'application/octet-stream', 'text/plain', 'multipart/form-data; boundary=x']);
    notes.push(`proxy-body-${size}`);
  } else if (op.body || (bodyMethod && rng.chance(0.1))) {
    const form = isAuth0(op.template) && rng.chance(0.2);
    const made = jsonBody(rng, op.body ?? { type: 'object', additionalProperties: {} }, ctx, { form });
    body = made.body;
    headers['content-type'] = made.contentType;
    notes.push(...made.notes);
  }
  if (body && rng.chance(0.08)) {
    headers['content-type'] = rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/xml', 'application/json, text/plain', 'application/vnd.api+json']);
    notes.push('odd-content-type');
  }
  const expect100 = Boolean(body && body.length) && (proxy ? rng.chance(0.12) : rng.chance(0.03));
  if (expect100) headers.expect = '100-continue';
  // Some callers hang up before the answer is complete, mostly on proxied calls (whose answers stream).
  const hangUpAfterMs = rng.chance(proxy ? 0.06 : 0.02) ? rng.int(0, 400) : null;
  if (hangUpAfterMs !== null) notes.push(`hang-up-${hangUpAfterMs}ms`);
  return { i, op: `${op.method} ${op.template}`, template: op.template, method, path, headers, body, expect100, hangUpAfterMs, foreign, brokenTarget, auth: authName, notes };
}
