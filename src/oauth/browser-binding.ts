// Binds an OAuth flow to the browser that started it (against login CSRF: a victim completing a flow someone else
// started, or the reverse). Authorize sets a random value in a short-lived cookie that only the callback receives;
// the flow row keeps its SHA-256, and a callback whose browser does not present the value is refused.
import crypto from 'node:crypto';
import type { VaultContext } from '../vault/context.js';
import { FLOW_TTL_MS } from './flows.js';

const PREFIX = 'coffer_oauth_';

const sha256 = (value: string) => crypto.createHash('sha256').update(value).digest();

/** One cookie per flow, so flows started in two tabs do not overwrite each other; any state gives a safe name. */
export const bindingCookieName = (state: string) => PREFIX + sha256(state).toString('base64url').slice(0, 16);

export function newBinding(): { value: string; hash: string } {
  const value = crypto.randomBytes(32).toString('base64url');
  return { value, hash: sha256(value).toString('hex') };
}

function attributes(ctx: VaultContext, maxAgeSeconds: number): string {
  const url = new URL(`${ctx.publicUrl}/vault/callback`);
  const secure = url.protocol === 'https:' ? '; Secure' : '';
  // Lax: the provider's redirect back is a top-level GET navigation from another site, which Lax cookies follow.
  return `; Max-Age=${maxAgeSeconds}; Path=${url.pathname}; HttpOnly; SameSite=Lax${secure}`;
}

export const bindingCookie = (ctx: VaultContext, flowId: string, value: string) =>
  `${bindingCookieName(flowId)}=${value}${attributes(ctx, Math.floor(FLOW_TTL_MS / 1000))}`;

export const clearedBindingCookie = (ctx: VaultContext, state: string) => `${bindingCookieName(state)}=${attributes(ctx, 0)}`;

/** The value of cookie `name` in a Cookie header; null when absent. */
export function readCookie(header: string | undefined, name: string): string | null {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}

/** Whether the browser's cookies carry the value whose hash the flow `state` stored. */
export function browserMatches(hash: string, state: string, cookieHeader: string | undefined): boolean {
  const value = readCookie(cookieHeader, bindingCookieName(state));
  if (!value) return false;
  return crypto.timingSafeEqual(sha256(value), Buffer.from(hash, 'hex'));
}
