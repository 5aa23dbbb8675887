// Access tokens for OAuth setups, obtained with the client_credentials grant through oauth4webapi:
// HTTP `OAUTH_CLIENT_CREDENTIALS` at its `token_endpoint`, AUTH0 `OAUTH_APP` at the tenant's /oauth/token
// (audience defaulting to the tenant's Management API, as Auth0 does for its own M2M connections).
// The request goes through the same upstream policy as every call carrying a secret.
import * as oauth from 'oauth4webapi';
import type { VaultContext } from '../vault/context.js';
import { VaultError } from '../vault/errors.js';
import { FlowsError } from './errors.js';
import type { Setup } from './validate.js';

export interface FlowsTokens {
  access_token: string;
  token_type: string;
  scope: string | null;
  refresh_token: string | null;
}

export interface ObtainedTokens {
  tokens: FlowsTokens;
  expiresAt: number | null;
  obtainedAt: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

interface GrantRequest {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  parameters: Record<string, string>;
}

function grantRequestOf(ctx: VaultContext, setup: Setup): GrantRequest {
  const text = (key: string) => (typeof setup[key] === 'string' ? (setup[key] as string) : undefined);
  if (setup.type === 'OAUTH_APP') {
    const domain = text('domain')!.replace(/\.$/, '');
    return {
      tokenEndpoint: ctx.flows.auth0TokenUrl.replace('{domain}', domain),
      clientId: text('client_id')!,
      clientSecret: text('client_secret')!,
      parameters: { audience: text('audience') ?? `https://${domain}/api/v2/` },
    };
  }
  const parameters: Record<string, string> = {};
  for (const key of ['audience', 'resource', 'scope']) if (text(key)) parameters[key] = text(key)!;
  return { tokenEndpoint: text('token_endpoint')!, clientId: text('client_id')!, clientSecret: text('client_secret')!, parameters };
}

/** The OAuth error code of a refusal: an error body, or a 401 challenge (client authentication failed). */
function refusalCode(error: unknown): string | null {
  if (error instanceof oauth.ResponseBodyError) return error.error;
  if (error instanceof oauth.WWWAuthenticateChallengeError) return error.cause[0]?.parameters.error ?? 'invalid_client';
  return null;
}

/** Runs the grant; a refusal is the caller's to fix (400), an unreachable endpoint is not (502). Nothing is stored here. */
export async function obtainTokens(ctx: VaultContext, setup: Setup, now = Date.now): Promise<ObtainedTokens> {
  const request = grantRequestOf(ctx, setup);
  const url = new URL(request.tokenEndpoint);
  const as: oauth.AuthorizationServer = { issuer: url.origin, token_endpoint: url.href };
  const client: oauth.Client = { client_id: request.clientId };
  const options = ctx.outbound.oauthOptions(REQUEST_TIMEOUT_MS);
  let response: oauth.TokenEndpointResponse;
  try {
    ctx.outbound.check(url);
    const raw = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(request.clientSecret), request.parameters, options);
    response = await oauth.processClientCredentialsResponse(as, client, raw);
  } catch (error) {
    // Refused by the outbound policy (scheme, private address): the setup is the caller's to fix.
    if (error instanceof VaultError) throw new FlowsError(400, 'invalid_body', `Payload validation error: the token endpoint cannot be used: ${error.message}`);
    // Only the provider's error code is repeated: its description could echo what was sent.
    const code = refusalCode(error);
    if (code) throw new FlowsError(400, 'invalid_body', `Payload validation error: ${url.host} refused the client credentials (${code})`);
    throw new FlowsError(502, 'token_endpoint_unavailable', `Could not obtain an access token from ${url.host}`);
  }
  const obtainedAt = now();
  return {
    tokens: {
      access_token: response.access_token,
      token_type: response.token_type ?? 'bearer',
      scope: response.scope ?? null,
      refresh_token: response.refresh_token ?? null,
    },
    expiresAt: typeof response.expires_in === 'number' ? obtainedAt + response.expires_in * 1000 : null,
    obtainedAt,
  };
}
