// The one place where request input is bounded before it reaches the domain or a database: lengths of ids, depth of
// free-form JSON, and text both backends can store. SQLite would keep a NUL byte or a lone surrogate that PostgreSQL
// refuses, and an over-long id fits SQLite's index but not PostgreSQL's: refusing them here makes both backends accept
// and refuse exactly the same requests.
import type { FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { unstorableCharacter } from '../store/storable-text.js';
import { badRequest } from '../vault/errors.js';

/** Request bodies (JSON and forms), in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Ids in paths, id headers and id fields of bodies, in characters (code points). The widest index (a custom mapping's
 * key: application, consumer, unified API, service, target field) stays under PostgreSQL's 2 704-byte b-tree limit.
 */
export const MAX_ID_LENGTH = 255;

/** Nesting of free-form JSON (metadata, settings, consents): deeper documents cannot be serialised back safely. */
export const MAX_JSON_DEPTH = 64;

/** Integers in query filters: both backends' `integer` columns hold at most this. */
export const MAX_QUERY_INTEGER = 2 ** 31 - 1;

/** Raw (percent-encoded) path parameter length the router accepts; the decoded value is then held to MAX_ID_LENGTH. */
export const ROUTER_MAX_PARAM_LENGTH = MAX_ID_LENGTH * 12;

/** Headers that carry an id and are held to MAX_ID_LENGTH. */
const ID_HEADERS = ['x-apideck-app-id', 'x-apideck-consumer-id', 'x-apideck-service-id', 'x-apideck-unified-api'];

function refuseUnstorable(text: string, field: string, where: string): void {
  const found = unstorableCharacter(text);
  if (found === null) return;
  const what = found === '\0' ? 'a NUL character' : 'an unpaired UTF-16 surrogate';
  throw badRequest(`${where} ${field} contains ${what}`, { invalid: [{ [field]: `contains ${what}` }] });
}

function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) i++;
    count++;
  }
  return count;
}

function refuseLongId(text: string, field: string, where: string): void {
  if (text.length > MAX_ID_LENGTH && codePoints(text) > MAX_ID_LENGTH) {
    throw badRequest(`${where} ${field} is longer than ${MAX_ID_LENGTH} characters`, { invalid: [{ [field]: `longer than ${MAX_ID_LENGTH} characters` }] });
  }
}

/**
 * Refuses a parsed JSON (or form) value that nests deeper than MAX_JSON_DEPTH or holds text a database cannot store,
 * in its keys or its strings. Iterative: a hostile document must not exhaust the stack here either.
 */
export function checkDocument(value: unknown, where: string): void {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 0, path: '' }];
  while (stack.length) {
    const { value: current, depth, path } = stack.pop()!;
    if (typeof current === 'string') {
      refuseUnstorable(current, path || where, where);
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw badRequest(`${where} nests deeper than ${MAX_JSON_DEPTH} levels`, { invalid: [{ [path || where]: `nested deeper than ${MAX_JSON_DEPTH} levels` }] });
    }
    if (Array.isArray(current)) {
      current.forEach((item, index) => stack.push({ value: item, depth: depth + 1, path: `${path}[${index}]` }));
      continue;
    }
    for (const [key, item] of Object.entries(current)) {
      const field = path ? `${path}.${key}` : key;
      refuseUnstorable(key, field, where);
      // JSON.parse keeps `__proto__` as an own key; merging it into another object later would replace a prototype.
      if (key === '__proto__') throw badRequest(`${where} ${field} is not an allowed property name`, { invalid: [{ [field]: 'not allowed' }] });
      stack.push({ value: item, depth: depth + 1, path: field });
    }
  }
}

/** Parses a JSON request body within the bounds; `undefined` for an empty one (the SDKs send those). */
export function parseJsonBody(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw Object.assign(new Error('Body is not valid JSON'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  }
  checkDocument(value, 'body');
  return value;
}

/** What the URL's parameters and query and the id headers carry, before any route reads them. */
export function checkRequestInput(params: Record<string, unknown>, query: unknown, headers: IncomingHttpHeaders): void {
  for (const name in params) {
    const value = params[name];
    if (typeof value !== 'string') continue;
    refuseUnstorable(value, name, 'path parameter');
    // `*` is the Hosted Vault's session token, not an id.
    if (name !== '*') refuseLongId(value, name, 'path parameter');
  }
  if (query !== undefined) checkDocument(query, 'query');
  for (const name of ID_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const text of Array.isArray(value) ? value : [value]) refuseLongId(text, name, 'header');
  }
}

/** onRequest: the request's input within the bounds. */
export async function boundRequest(request: FastifyRequest): Promise<void> {
  checkRequestInput((request.params ?? {}) as Record<string, unknown>, request.query, request.headers);
}
