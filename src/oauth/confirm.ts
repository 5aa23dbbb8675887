// The nonce flow's second step: a single-use, 30-minute confirm token bound to application, consumer and connector.
import crypto from 'node:crypto';
import type { Executor } from '../store/database.js';
import { insertConfirmToken, useConfirmToken } from '../store/oauth-flows.js';
import type { VaultContext } from '../vault/context.js';
import { connectionKey, mutateConnection, type Scope } from '../vault/connection-mutation.js';
import { badRequest } from '../vault/errors.js';
import { resolveIntegration } from '../vault/integrations.js';

const CONFIRM_TTL_MS = 30 * 60 * 1000;

const hash = (token: string) => crypto.createHash('sha256').update(token).digest('base64url');

export async function issueConfirmToken(db: Executor, scope: Scope, serviceId: string): Promise<string> {
  const token = crypto.randomBytes(32).toString('base64url');
  await insertConfirmToken(db, connectionKey(scope, serviceId), hash(token), Date.now() + CONFIRM_TTL_MS);
  return token;
}

export async function confirmConnection(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, confirmToken: string) {
  const { def } = await resolveIntegration(ctx, scope.applicationId, unifiedApi, serviceId);
  await mutateConnection(ctx, scope, def, unifiedApi, { create: false }, async (rec, trx) => {
    if (!(await useConfirmToken(trx, connectionKey(scope, serviceId), hash(confirmToken)))) {
      throw badRequest('Invalid or expired confirm_token', { invalid: [{ confirm_token: 'unknown, used or expired' }] });
    }
    rec.confirmed = true;
  });
  return { confirmed: true };
}
