// A connector's verification request, run with the consumer's credentials: does the provider accept them?
import type { ConnectorDefinition } from '../connectors/types.js';
import type { VaultContext } from '../vault/context.js';
import { VaultError } from '../vault/errors.js';
import { callUpstream, providerMessage } from './upstream-call.js';

export type Verification = { accepted: true } | { accepted: false; status: number; message: string };

function secretsOf(def: ConnectorDefinition, settings: Record<string, unknown>, accessToken: string | null): string[] {
  const sensitive = def.form_fields.filter((f) => f.sensitive).map((f) => settings[f.id]);
  return [...sensitive, accessToken].filter((v): v is string => typeof v === 'string');
}

/** Null when the connector defines no verification request. Other answers than success or 401/403 are errors. */
export async function verifyCredentials(
  ctx: VaultContext,
  def: ConnectorDefinition,
  settings: Record<string, unknown>,
  accessToken: string | null,
): Promise<Verification | null> {
  const check = def.verification;
  if (!check) return null;
  const response = await callUpstream(ctx, def, settings, accessToken, { method: check.method, path: check.path });
  if (check.success_statuses.includes(response.status)) return { accepted: true };
  const message = providerMessage(response.text, secretsOf(def, settings, accessToken));
  if (response.status === 401 || response.status === 403) return { accepted: false, status: response.status, message };
  throw new VaultError(502, 'ConnectorExecutionError', `${def.name} answered ${response.status} to the verification request`, message);
}
