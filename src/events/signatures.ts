// The two signatures every delivery carries: Apideck's (HMAC-SHA256 of the key-sorted JSON body, keyed with the
// API key) and Standard Webhooks' (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with a `whsec_` secret).
import crypto from 'node:crypto';

/** Recursively key-sorted copy (array order kept), as Apideck's signature guide prescribes. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  return sorted;
}

/** The exact bytes sent: key-sorted compact JSON, so the raw body is also what Apideck's rule hashes. */
export function canonicalBody(payload: unknown): string {
  return JSON.stringify(sortKeys(payload));
}

export function apideckSignature(body: string, key: string): string {
  return crypto.createHmac('sha256', key).update(body).digest('hex');
}

export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}

function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** One `v1,<sig>` per secret, space-separated: during a rotation both the new and the previous secret verify. */
export function standardWebhookSignature(messageId: string, timestampSeconds: number, body: string, secrets: string[]): string {
  return secrets
    .map((secret) => `v1,${crypto.createHmac('sha256', secretBytes(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`)
    .join(' ');
}
