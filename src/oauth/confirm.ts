// The nonce flow's second step: a single-use, 30-minute confirm token bound to application, consumer and connector.
import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { VaultContext } from '../vault/context.js';
import { mutateConnection, type Scope } from '../vault/connection-mutation.js';
import { badRequest } from '../vault/errors.js';
import { resolveIntegration } from '../vault/integrations.js';

type Db = Kysely<Database> | Transaction<Database>;

const CONFIRM_TTL_MS = 30 * 60 * 1000;

const hash = (token: string) => crypto.createHash('sha256').update(token).digest('base64url');

export async function issueConfirmToken(db: Db, scope: Scope, serviceId: string): Promise<string> {
  const token = crypto.randomBytes(32).toString('base64url');
  const now = Date.now();
  await db
    .insertInto('confirm_tokens')
    .values({
      token_hash: hash(token),
      application_id: scope.applicationId,
      consumer_id: scope.consumerId,
      service_id: serviceId,
      expires_at: now + CONFIRM_TTL_MS,
      used_at: null,
      created_at: now,
    })
    .execute();
  return token;
}

export async function confirmConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, confirmToken: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, async (rec, trx) => {
    const now = Date.now();
    const used = await trx
      .updateTable('confirm_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hash(confirmToken))
      .where('application_id', '=', scope.applicationId)
      .where('consumer_id', '=', scope.consumerId)
      .where('service_id', '=', serviceId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) {
      throw badRequest('Invalid or expired confirm_token', { invalid: [{ confirm_token: 'unknown, used or expired' }] });
    }
    rec.confirmed = true;
  });
  return { confirmed: true };
}
