// The Apideck error envelope, asserted the same way everywhere.
import { expect } from 'vitest';

export type Json = Record<string, any>;

/** Asserts `res` is exactly the error envelope with this status and type; returns the body and its raw text. */
export async function expectErrorEnvelope(res: Response, status: number, typeName: string, context = ''): Promise<{ body: Json; text: string }> {
  const text = await res.text();
  expect(res.status, `${context}${text}`).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/application\/json/);
  const body = JSON.parse(text) as Json;
  expect(Object.keys(body).sort()).toEqual(['detail', 'error', 'message', 'ref', 'status_code', 'type_name']);
  expect(body.status_code).toBe(status);
  expect(body.type_name).toBe(typeName);
  expect(typeof body.error).toBe('string');
  expect(body.error.length).toBeGreaterThan(0);
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  expect(['string', 'object']).toContain(typeof body.detail);
  expect(body.detail).not.toBeNull();
  expect(body.ref).toBe(`https://developers.apideck.com/errors#${typeName.toLowerCase()}`);
  return { body, text };
}

export async function okJson(res: Response, status = 200): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as Json;
}
