import crypto from 'node:crypto';
import { ulid } from 'ulid';

// node:crypto's random bytes drawn a pool at a time: ulid's own generator asks the CSPRNG once per character (16 calls
// an id) and a consumer's connection list signs a link with a random `jti` per OAuth connector; one call per 4 KiB
// gives the same quality at a fraction of the cost (a million-row load spent half its time there).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** The pool's offset of `count` fresh bytes, refilling it when fewer are left. */
function take(count: number): number {
  if (poolOffset + count > pool.length) {
    crypto.randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += count;
  return poolOffset - count;
}

/** `count` (≤ 4096) cryptographically random bytes, copied out of the pool. */
export function randomBytes(count: number): Buffer {
  const at = take(count);
  return Buffer.from(pool.subarray(at, at + count));
}

const pooledRandom = () => pool[take(1)] / 256;

export const newId = (prefix: string) => `${prefix}_${ulid(undefined, pooledRandom).toLowerCase()}`;

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
  // randomUUID draws from a buffered pool; its variant bits and random tail are reused as they are.
  const random = crypto.randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${sequence.toString(16).padStart(3, '0')}-${random.slice(19)}`;
}

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
