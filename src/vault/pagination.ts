// Opaque cursors: base64url of the last key on the page.
import { badRequest } from './errors.js';

export function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ k: key }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined | null): string | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === 'string') return parsed.k;
  } catch {
    // fall through to the error below
  }
  throw badRequest('Invalid cursor', { invalid: [{ cursor: 'not a cursor this API returned' }] });
}

export interface Page<T> {
  data: T[];
  next: string | null;
}
