import crypto from 'node:crypto';
import { ulid } from 'ulid';

export const newId = (prefix: string) => `${prefix}_${ulid().toLowerCase()}`;

let lastMs = 0;
let sequence = 0;

/**
 * UUIDv7 (RFC 9562): random, yet ordered by creation time, so logs page by id. Within one millisecond the 12-bit
 * `rand_a` field counts up (RFC 9562 §6.2, method 1), so ids made by this process sort in the order they were made.
 */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    sequence = 0;
  }
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
