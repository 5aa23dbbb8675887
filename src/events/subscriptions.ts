// Webhook subscriptions (Apideck's Webhook API model): where an application's events go and how they are signed.
import { isLocalhostName, isPrivateLiteral } from '../outbound/address-policy.js';
import { readJson } from '../store/database.js';
import { deleteWebhookRow, findWebhook, findWebhooks, insertWebhook, updateWebhookRow, type WebhookChanges, type WebhookRow } from '../store/webhooks.js';
import type { VaultContext } from '../vault/context.js';
import { badRequest, notFound } from '../vault/errors.js';
import { iso, newId } from '../vault/ids.js';
import { decodeCursor, encodeCursor, type Page } from '../vault/pagination.js';
import { newWebhookSecret } from './signatures.js';

export type { WebhookRow };

export interface WebhookInput {
  description?: string | null;
  unified_api?: string;
  status?: 'enabled' | 'disabled';
  delivery_url?: string;
  events?: string[];
}

export interface WebhookView {
  id: string;
  description: string | null;
  unified_api: string;
  status: string;
  disabled_reason: string;
  delivery_url: string;
  execute_base_url: string;
  events: string[];
  created_at: string | null;
  updated_at: string | null;
}

/** A rotated-out secret keeps verifying this long, so receivers can switch without losing deliveries. */
export const SECRET_ROTATION_OVERLAP_MS = 24 * 3_600_000;

const EVENT_NAME = /^(\*|[a-z][a-z_-]*(\.[a-z_]+)+)$/;
const UNIFIED_API = /^[a-z][a-z-]*$/;

const sealContext = (row: { application_id: string; id: string }, field: string) => ({ applicationId: row.application_id, ownerId: row.id, field });

export function webhookView(ctx: VaultContext, row: WebhookRow): WebhookView {
  return {
    id: row.id,
    description: row.description,
    unified_api: row.unified_api,
    status: row.status,
    disabled_reason: row.disabled_reason,
    delivery_url: row.delivery_url,
    // Apideck's inbound URL for provider events; Coffer does not receive provider webhooks, so nothing is served here.
    execute_base_url: `${ctx.publicUrl}/webhook/webhooks/${row.id}/execute`,
    events: readJson<string[]>(row.events, []),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

function checkEvents(events: string[]): string[] {
  if (events.length === 0) throw badRequest('events must list at least one event type', { invalid: [{ events: 'empty' }] });
  for (const event of events) {
    if (!EVENT_NAME.test(event)) throw badRequest(`"${event}" is not an event type`, { invalid: [{ events: event }] });
  }
  return [...new Set(events)];
}

/**
 * What can be checked without the network: an http(s) URL without credentials, and not a literal private address or
 * `localhost` unless private receivers are allowed. Host names are resolved at delivery, where the dispatcher's client
 * checks the address each connection is made to (a name that resolves to a private address then is refused then).
 */
function checkDeliveryUrl(raw: string, allowPrivateNetworks: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('delivery_url must be an absolute http(s) URL', { invalid: [{ delivery_url: raw }] });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badRequest('delivery_url must be an absolute http(s) URL', { invalid: [{ delivery_url: raw }] });
  }
  if (url.username || url.password) throw badRequest('delivery_url must not carry a user name or password', { invalid: [{ delivery_url: 'credentials' }] });
  if (!allowPrivateNetworks && (isLocalhostName(url.hostname) || isPrivateLiteral(url.hostname))) {
    throw badRequest(`delivery_url ${url.host} is a private or loopback address (set COFFER_ALLOW_PRIVATE_WEBHOOKS to deliver inside your network)`, {
      invalid: [{ delivery_url: url.host }],
    });
  }
  return url.toString();
}

async function findRow(ctx: VaultContext, applicationId: string, id: string): Promise<WebhookRow> {
  const row = await findWebhook(ctx.db, applicationId, id);
  if (!row) throw notFound('Webhook', id);
  return row;
}

export interface WebhookPolicy {
  allowPrivateNetworks: boolean;
}

/**
 * Creates a subscription. `signingKey` is the API key of the caller: Apideck receivers verify `x-apideck-signature`
 * with their API key, and Coffer keeps only hashes of API keys, so the key is sealed with the subscription.
 */
export async function createWebhook(
  ctx: VaultContext,
  applicationId: string,
  input: Required<Pick<WebhookInput, 'unified_api' | 'delivery_url' | 'events'>> & WebhookInput,
  signingKey: string | null,
  policy: WebhookPolicy,
): Promise<{ webhook: WebhookView; secret: string }> {
  if (!UNIFIED_API.test(input.unified_api)) throw badRequest('unified_api must be a unified API id such as "crm" or "vault"', { invalid: [{ unified_api: input.unified_api }] });
  const events = checkEvents(input.events);
  const deliveryUrl = checkDeliveryUrl(input.delivery_url, policy.allowPrivateNetworks);
  const now = Date.now();
  const id = newId('wh');
  const secret = newWebhookSecret();
  const owner = { application_id: applicationId, id };
  const row: WebhookRow = {
    id,
    application_id: applicationId,
    description: input.description ?? null,
    unified_api: input.unified_api,
    status: input.status ?? 'enabled',
    disabled_reason: 'none',
    delivery_url: deliveryUrl,
    events: JSON.stringify(events),
    secret_sealed: await ctx.keyring.seal(sealContext(owner, 'secret'), secret),
    previous_secret_sealed: null,
    previous_secret_expires_at: null,
    signing_key_sealed: signingKey ? await ctx.keyring.seal(sealContext(owner, 'signing_key'), signingKey) : null,
    created_at: now,
    updated_at: now,
  };
  await insertWebhook(ctx.db, { ...row, events: row.events as string });
  return { webhook: webhookView(ctx, row), secret };
}

export async function listWebhooks(ctx: VaultContext, applicationId: string, page: { cursor?: string; limit: number }): Promise<Page<WebhookView>> {
  const after = decodeCursor(page.cursor);
  const rows = await findWebhooks(ctx.db, applicationId, { after, limit: page.limit + 1 });
  const data = rows.slice(0, page.limit);
  return { data: data.map((row) => webhookView(ctx, row)), next: rows.length > page.limit ? encodeCursor(data[data.length - 1].id) : null };
}

export async function getWebhook(ctx: VaultContext, applicationId: string, id: string): Promise<WebhookView> {
  return webhookView(ctx, await findRow(ctx, applicationId, id));
}

export async function updateWebhook(
  ctx: VaultContext,
  applicationId: string,
  id: string,
  patch: WebhookInput,
  signingKey: string | null,
  policy: WebhookPolicy,
): Promise<WebhookView> {
  const row = await findRow(ctx, applicationId, id);
  const set: WebhookChanges = { updated_at: Date.now() };
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.events !== undefined) set.events = JSON.stringify(checkEvents(patch.events));
  if (patch.delivery_url !== undefined) set.delivery_url = checkDeliveryUrl(patch.delivery_url, policy.allowPrivateNetworks);
  if (patch.unified_api !== undefined) {
    if (!UNIFIED_API.test(patch.unified_api)) throw badRequest('unified_api must be a unified API id such as "crm" or "vault"', { invalid: [{ unified_api: patch.unified_api }] });
    set.unified_api = patch.unified_api;
  }
  if (patch.status !== undefined) {
    set.status = patch.status;
    // Turning a subscription back on (or off by hand) clears why the dispatcher had turned it off.
    set.disabled_reason = 'none';
  }
  // Re-keying on every update lets a caller move Apideck signatures to a new API key after rotating keys.
  if (signingKey) set.signing_key_sealed = await ctx.keyring.seal(sealContext(row, 'signing_key'), signingKey);
  await updateWebhookRow(ctx.db, applicationId, id, set);
  return webhookView(ctx, await findRow(ctx, applicationId, id));
}

/** Removes the subscription; its pending deliveries go with it. */
export async function deleteWebhook(ctx: VaultContext, applicationId: string, id: string): Promise<WebhookView> {
  const row = await findRow(ctx, applicationId, id);
  await deleteWebhookRow(ctx.db, applicationId, id);
  return webhookView(ctx, row);
}

/** New Standard Webhooks secret; the previous one keeps signing alongside it for a day. */
export async function rotateWebhookSecret(ctx: VaultContext, applicationId: string, id: string): Promise<{ webhook: WebhookView; secret: string }> {
  const row = await findRow(ctx, applicationId, id);
  const secret = newWebhookSecret();
  const now = Date.now();
  await updateWebhookRow(ctx.db, applicationId, id, {
    secret_sealed: await ctx.keyring.seal(sealContext(row, 'secret'), secret),
    // The old ciphertext is bound to the field name `secret`: re-seal it under `previous_secret`.
    previous_secret_sealed: await ctx.keyring.seal(sealContext(row, 'previous_secret'), await ctx.keyring.open(sealContext(row, 'secret'), row.secret_sealed)),
    previous_secret_expires_at: now + SECRET_ROTATION_OVERLAP_MS,
    updated_at: now,
  });
  return { webhook: webhookView(ctx, await findRow(ctx, applicationId, id)), secret };
}

/** The keys a delivery is signed with, opened only for the moment of signing. */
export async function signingSecrets(ctx: VaultContext, row: WebhookRow, now = Date.now()): Promise<{ secrets: string[]; apideckKey: string }> {
  const secret = await ctx.keyring.open(sealContext(row, 'secret'), row.secret_sealed);
  const secrets = [secret];
  if (row.previous_secret_sealed && (row.previous_secret_expires_at ?? 0) > now) {
    secrets.push(await ctx.keyring.open(sealContext(row, 'previous_secret'), row.previous_secret_sealed));
  }
  // Subscriptions made without an API key (the CLI) sign Apideck's header with their own secret.
  const apideckKey = row.signing_key_sealed ? await ctx.keyring.open(sealContext(row, 'signing_key'), row.signing_key_sealed) : secret;
  return { secrets, apideckKey };
}
