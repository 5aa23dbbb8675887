// Authorization flows in progress: their lifetime and ids (the rows live in store/oauth-flows.ts).
import crypto from 'node:crypto';
import type { Executor } from '../store/database.js';
import { insertFlow } from '../store/oauth-flows.js';
import type { OAuthFlowsTable } from '../store/schema.js';

/** How long a user may spend at the provider between authorize and callback. */
export const FLOW_TTL_MS = 10 * 60 * 1000;

export const newFlowId = () => crypto.randomBytes(32).toString('base64url');

export async function createFlow(db: Executor, flow: Omit<OAuthFlowsTable, 'used_at' | 'created_at' | 'expires_at'>): Promise<string> {
  await insertFlow(db, flow, FLOW_TTL_MS);
  return flow.id;
}
