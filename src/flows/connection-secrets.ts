// The secrets of a Flows Vault connection row. `setup` and tokens are sealed, bound to the application, the row and
// the field; the clear columns hold only what responses show (name, app_id, masked account name, times).
import crypto from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';
import type { Executor } from '../store/database.js';
import type { FlowsConnectionChange, FlowsConnectionRow, FlowsConnectionTokens, NewFlowsConnection } from '../store/flows-connections.js';
import type { FlowsTokens } from './oauth-tokens.js';
import type { Setup } from './validate.js';

/** What a write stores; secrets in the clear here, sealed on the way to the row. */
export interface FlowsConnectionWrite {
  name: string;
  setup: Setup | null;
  accountName: string | null;
  tokens: FlowsTokens | null;
  tokenExpiresAt: number | null;
  refreshedAt: number | null;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `ac_` + 22 base62 characters (about 131 random bits), as Auth0's ids look. */
export function newConnectionId(): string {
  let out = '';
  while (out.length < 22) {
    for (const byte of crypto.randomBytes(32)) {
      // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
      if (byte < 248 && out.length < 22) out += BASE62[byte % 62];
    }
  }
  return `ac_${out}`;
}

/** A fresh random value on every change: it tells clients "something changed" and reveals nothing about the setup. */
export const newFingerprint = () => crypto.randomBytes(16).toString('hex');

const sealContext = (applicationId: string, id: string, field: 'flows_setup' | 'flows_tokens') => ({ applicationId, ownerId: id, field });

async function sealedColumns(keyring: Keyring, applicationId: string, id: string, write: FlowsConnectionWrite, db: Executor) {
  return {
    name: write.name,
    setup_type: write.setup?.type ?? null,
    setup: write.setup ? await keyring.sealJson(sealContext(applicationId, id, 'flows_setup'), write.setup, db) : null,
    account_name: write.accountName,
    tokens: write.tokens ? await keyring.sealJson(sealContext(applicationId, id, 'flows_tokens'), write.tokens, db) : null,
    token_expires_at: write.tokenExpiresAt,
    refreshed_at: write.refreshedAt,
  };
}

/** A new row with a fresh id, sealed with `db` (the insert's transaction). */
export async function sealNewConnection(keyring: Keyring, db: Executor, applicationId: string, appId: string, write: FlowsConnectionWrite): Promise<NewFlowsConnection> {
  const id = newConnectionId();
  const now = Date.now();
  return {
    id,
    app_id: appId,
    ...(await sealedColumns(keyring, applicationId, id, write, db)),
    fingerprint: newFingerprint(),
    version: 1,
    created_at: now,
    updated_at: now,
  };
}

/** The values replacing `current`'s, sealed with `db` (the update's transaction); updated_at always moves forward. */
export async function sealConnectionChange(keyring: Keyring, db: Executor, current: FlowsConnectionRow, write: FlowsConnectionWrite): Promise<FlowsConnectionChange> {
  return {
    ...(await sealedColumns(keyring, current.application_id, current.id, write, db)),
    fingerprint: newFingerprint(),
    updated_at: Math.max(Date.now(), current.updated_at + 1),
  };
}

export async function sealRefreshedTokens(
  keyring: Keyring,
  db: Executor,
  row: FlowsConnectionRow,
  tokens: FlowsTokens,
  expiresAt: number | null,
  refreshedAt: number,
): Promise<FlowsConnectionTokens> {
  return {
    tokens: await keyring.sealJson(sealContext(row.application_id, row.id, 'flows_tokens'), tokens, db),
    token_expires_at: expiresAt,
    refreshed_at: refreshedAt,
  };
}

export async function openSetup(keyring: Keyring, row: FlowsConnectionRow): Promise<Setup | null> {
  return keyring.openJson<Setup | null>(sealContext(row.application_id, row.id, 'flows_setup'), row.setup, null);
}

export async function openTokens(keyring: Keyring, row: FlowsConnectionRow): Promise<FlowsTokens | null> {
  return keyring.openJson<FlowsTokens | null>(sealContext(row.application_id, row.id, 'flows_tokens'), row.tokens, null);
}
