// One request to a provider's API with the consumer's credentials: guarded, time-limited, body size capped.
import type { ConnectorDefinition } from '../connectors/types.js';
import type { VaultContext } from '../vault/context.js';
import { badRequest, VaultError } from '../vault/errors.js';
import { upstreamTarget, upstreamUrl } from './injection.js';
import { describeFailure } from '../outbound/guarded-client.js';

const TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 1024 * 1024;

export interface UpstreamResponse {
  status: number;
  text: string;
}

export async function callUpstream(
  ctx: VaultContext,
  def: ConnectorDefinition,
  settings: Record<string, unknown>,
  accessToken: string | null,
  request: { method: string; path: string },
): Promise<UpstreamResponse> {
  const target = upstreamTarget(def, settings, accessToken);
  const url = upstreamUrl(target, request.path);
  let headers: Headers;
  try {
    headers = new Headers({ accept: 'application/json', ...target.headers });
  } catch {
    // The error quotes the offending value, i.e. the credential: never echo it (nor call it "unreachable").
    throw badRequest(`The settings of this ${def.name} connection contain characters that cannot be sent in an HTTP header`);
  }
  let response: Response;
  try {
    response = await ctx.outbound.fetch(url, { method: request.method, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    if (error instanceof VaultError) throw error;
    throw new VaultError(502, 'ConnectorExecutionError', `Could not reach ${def.name}: ${describeFailure(error, url)}`);
  }
  const buffer = Buffer.from(await response.arrayBuffer());
  return { status: response.status, text: buffer.subarray(0, MAX_BODY_BYTES).toString('utf8') };
}

/** The provider's own words from an error body, without echoing any credential we sent. */
export function providerMessage(text: string, secrets: string[]): string {
  let message = text.trim();
  try {
    const body = JSON.parse(text) as Record<string, any>;
    const candidates = [body.message, body.error_description, body.error?.message, body.errors?.[0]?.message, body.detail, body.error, body.title];
    const found = candidates.find((c) => typeof c === 'string' && c.trim());
    if (found) message = found.trim();
  } catch {
    // not JSON: the text as it came
  }
  for (const secret of secrets) if (secret.length >= 4) message = message.split(secret).join('[redacted]');
  return message.slice(0, 300) || 'no message';
}
