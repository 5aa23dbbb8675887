// AES-256-GCM with a random 96-bit nonce; the AAD binds a ciphertext to where it belongs.
import crypto from 'node:crypto';

export class DecryptionError extends Error {}

export function encrypt(key: Buffer, plaintext: Buffer, aad: string): string {
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return `${nonce.toString('base64url')}.${body.toString('base64url')}`;
}

export function decrypt(key: Buffer, sealed: string, aad: string): Buffer {
  const [nonceText, bodyText] = sealed.split('.');
  if (!nonceText || !bodyText) throw new DecryptionError('malformed ciphertext');
  const nonce = Buffer.from(nonceText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (nonce.length !== 12 || body.length < 16) throw new DecryptionError('malformed ciphertext');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(body.subarray(body.length - 16));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  } catch {
    throw new DecryptionError('ciphertext does not open with this key and context');
  }
}
