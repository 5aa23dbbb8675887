import crypto from 'node:crypto';
import { ulid } from 'ulid';

export const newId = (prefix: string) => `${prefix}_${ulid().toLowerCase()}`;

/** UUIDv7 (RFC 9562): random, yet ordered by creation time, so logs page by id. */
export function uuidv7(now = Date.now()): string {
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
