// Helpers for the Flows Vault API tests: Management API tokens, raw calls and Auth0's error body.
import { expect } from 'vitest';
import { FLOWS_SCOPES, issueManagementToken } from '../../src/flows/management-token.js';
import type { TestCoffer } from './coffer.js';

export type Json = Record<string, any>;

export const ALL_SCOPES = [...FLOWS_SCOPES];

export async function managementToken(coffer: TestCoffer, scopes: string[] = ALL_SCOPES, appId = coffer.appId): Promise<string> {
  return (await issueManagementToken(coffer.runtime.ctx, appId, scopes)).access_token;
}

export interface FlowsResponse {
  status: number;
  text: string;
  json: any;
  headers: Headers;
}

/** One raw call to /api/v2/flows/vault/connections…; `form` sends the body form-encoded as given. */
export async function flowsCall(
  coffer: TestCoffer,
  token: string | null,
  method: string,
  path = '',
  body?: unknown,
  options: { form?: string } = {},
): Promise<FlowsResponse> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (options.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = options.form;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${coffer.url}/api/v2/flows/vault/connections${path}`, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : null, headers: res.headers };
}

/** Asserts Auth0's error body exactly: `{statusCode, error, message, errorCode}` and nothing else. */
export function expectAuth0Error(res: FlowsResponse, status: number, errorCode: string, message?: string | RegExp): Json {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/application\/json/);
  expect(Object.keys(res.json).sort()).toEqual(['error', 'errorCode', 'message', 'statusCode']);
  expect(res.json.statusCode).toBe(status);
  expect(res.json.errorCode).toBe(errorCode);
  expect(typeof res.json.error).toBe('string');
  expect(res.json.error.length).toBeGreaterThan(0);
  if (message instanceof RegExp) expect(res.json.message).toMatch(message);
  else if (message !== undefined) expect(res.json.message).toBe(message);
  return res.json;
}

/** The fields of every connection response, in Auth0's schema; nothing else (no `setup`) may appear. */
export const CONNECTION_KEYS = ['id', 'app_id', 'environment', 'name', 'account_name', 'ready', 'created_at', 'updated_at', 'refreshed_at', 'fingerprint'];

export function expectConnectionShape(connection: Json): void {
  for (const key of Object.keys(connection)) expect(CONNECTION_KEYS, `unexpected key ${key}`).toContain(key);
  expect(connection.id).toMatch(/^ac_[0-9A-Za-z]{22}$/);
  expect(connection.fingerprint).toMatch(/^[0-9a-f]{32}$/);
  expect(typeof connection.ready).toBe('boolean');
  expect(new Date(connection.created_at).toISOString()).toBe(connection.created_at);
  expect(new Date(connection.updated_at).toISOString()).toBe(connection.updated_at);
}
