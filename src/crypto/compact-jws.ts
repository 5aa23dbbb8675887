// HS256 compact JWS signed synchronously with node:crypto. jose signs through WebCrypto, asynchronously and with a key
// import per call (~40–160 µs CPU a token); a consumer's connection list signs a link for every OAuth connector, so
// that cost multiplied. The tokens are ordinary JWTs: jose verifies them (`jwtVerify`).
import crypto from 'node:crypto';

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');

/** `claims` signed with HMAC-SHA256 under `key` as a compact JWS (header `{"alg":"HS256"}`). */
export function signHs256(key: crypto.KeyObject, claims: Record<string, unknown>): string {
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signingInput}.${crypto.createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}
