// The oauth4webapi view of one connector for one connection: authorization server, client and client authentication.
import * as oauth from 'oauth4webapi';
import type { ConnectorDefinition, OAuthSettings } from '../connectors/types.js';
import type { VaultContext } from '../vault/context.js';
import { unprocessable, VaultError } from '../vault/errors.js';
import type { AppConnectorRow } from '../vault/connection-view.js';
import { fillConnectorUrl } from '../connectors/url-template.js';
import { withDefaults } from '../vault/connection-state.js';
import type { OAuthRequestOptions } from '../outbound/guarded-client.js';

export interface OAuthClient {
  settings: OAuthSettings;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
  clientId: string;
  /** Options for one oauth4webapi request: on the guarded outbound client, with its own timeout. */
  http(): OAuthRequestOptions;
  scopes: string[];
}

/** How long one request to a provider's OAuth endpoints may take. */
export const PROVIDER_TIMEOUT_MS = 15_000;

export function oauthSettings(def: ConnectorDefinition): OAuthSettings {
  if (def.auth_type !== 'oauth2' || !def.oauth) throw new VaultError(400, 'RequestValidationError', `${def.name} does not use OAuth 2.0`);
  return def.oauth;
}

/** The consumer's own OAuth app wins over the application's, for connectors whose form declares `client_id`. */
async function clientCredentials(
  ctx: VaultContext,
  applicationId: string,
  def: ConnectorDefinition,
  appConnector: AppConnectorRow,
  settings: Record<string, unknown>,
): Promise<{ clientId: string; clientSecret: string | null }> {
  const declaresClient = def.form_fields.some((f) => f.id === 'client_id');
  if (declaresClient && typeof settings.client_id === 'string' && settings.client_id) {
    return { clientId: settings.client_id, clientSecret: typeof settings.client_secret === 'string' ? settings.client_secret : null };
  }
  if (appConnector.client_sealed) {
    const sealed = await ctx.keyring.openJson<{ client_id?: string; client_secret?: string }>(
      { applicationId, ownerId: def.id, field: 'oauth_client' },
      appConnector.client_sealed,
      {},
    );
    if (sealed.client_id) return { clientId: sealed.client_id, clientSecret: sealed.client_secret ?? null };
  }
  throw unprocessable(
    `${def.name} has no OAuth client configured for this application (coffer connector enable ${def.id} --app ${applicationId} --client-id … --client-secret …)`,
  );
}

export async function oauthClientFor(
  ctx: VaultContext,
  applicationId: string,
  def: ConnectorDefinition,
  appConnector: AppConnectorRow & { scopes?: string | null },
  settings: Record<string, unknown>,
): Promise<OAuthClient> {
  const s = oauthSettings(def);
  settings = withDefaults(def, settings);
  const { clientId, clientSecret } = await clientCredentials(ctx, applicationId, def, appConnector, settings);
  const authorizationEndpoint = s.authorization_url ? fillConnectorUrl(def, s.authorization_url, settings, 'authorization') : undefined;
  const tokenEndpoint = fillConnectorUrl(def, s.token_url, settings, 'the token request');
  const as: oauth.AuthorizationServer = {
    issuer: s.issuer ?? new URL(authorizationEndpoint ?? tokenEndpoint).origin,
    authorization_endpoint: authorizationEndpoint,
    token_endpoint: tokenEndpoint,
    revocation_endpoint: s.revocation_url ? fillConnectorUrl(def, s.revocation_url, settings, 'revocation') : undefined,
    authorization_response_iss_parameter_supported: s.iss_parameter_supported ?? false,
  };
  const clientAuth =
    clientSecret === null ? oauth.None()
    : s.client_auth === 'client_secret_post' ? oauth.ClientSecretPost(clientSecret)
    : oauth.ClientSecretBasic(clientSecret);
  const appScopes = appConnector.scopes ? appConnector.scopes.split(' ').filter(Boolean) : null;
  return {
    settings: s,
    as,
    client: { client_id: clientId },
    clientAuth,
    clientId,
    http: () => ctx.outbound.oauthOptions(PROVIDER_TIMEOUT_MS),
    scopes: appScopes ?? s.scopes,
  };
}
