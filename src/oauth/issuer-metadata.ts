// RFC 9207: whether an authorization response must carry `iss`. Required when the provider's metadata (OpenID
// discovery, else RFC 8414) says `authorization_response_iss_parameter_supported`, or when the connector file opts in
// (`iss_parameter_supported`, for providers without metadata). Read at the callback, where the client (its issuer may
// be templated from the connection's settings) is built anyway and which also covers the application's own
// `callback-state` flows; cached per issuer so most callbacks make no request.
import * as oauth from 'oauth4webapi';
import type { VaultContext } from '../vault/context.js';
import type { OAuthClient } from './client.js';

const FOUND_TTL_MS = 60 * 60 * 1000;
/** No metadata (404, timeout, bad document): asked again after this, so an outage does not stick for an hour. */
const MISSING_TTL_MS = 5 * 60 * 1000;
const TIMEOUT_MS = 3000;
const MAX_ISSUERS = 500;

interface Entry {
  expiresAt: number;
  /** Null while unknown or when no metadata could be read. */
  advertised: Promise<boolean | null>;
}

const caches = new WeakMap<VaultContext, Map<string, Entry>>();

async function fetchAdvertised(ctx: VaultContext, issuer: URL): Promise<boolean | null> {
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(issuer, { ...ctx.outbound.oauthOptions(TIMEOUT_MS), algorithm });
      const metadata = await oauth.processDiscoveryResponse(issuer, response);
      return metadata.authorization_response_iss_parameter_supported === true;
    } catch {
      // Not there, not this issuer's, or not reachable: try the other well-known location, then give up.
    }
  }
  return null;
}

async function issAdvertised(ctx: VaultContext, client: OAuthClient): Promise<boolean | null> {
  let issuer: URL;
  try {
    issuer = new URL(client.as.issuer);
  } catch {
    return null;
  }
  const cache = caches.get(ctx) ?? new Map<string, Entry>();
  caches.set(ctx, cache);
  const key = issuer.href;
  const now = Date.now();
  const cached = cache.get(key);
  if (cached && cached.expiresAt > now) return cached.advertised;
  cache.delete(key);
  if (cache.size >= MAX_ISSUERS) cache.delete(cache.keys().next().value!);
  // Concurrent callbacks for one issuer share one request; a missing answer is kept for less long.
  const entry: Entry = { expiresAt: now + FOUND_TTL_MS, advertised: fetchAdvertised(ctx, issuer) };
  cache.set(key, entry);
  const advertised = await entry.advertised;
  if (advertised === null) entry.expiresAt = Date.now() + MISSING_TTL_MS;
  return advertised;
}

/** The client's authorization server, requiring `iss` when its metadata or the connector file says it is sent. */
export async function withIssuerMetadata(ctx: VaultContext, client: OAuthClient): Promise<oauth.AuthorizationServer> {
  if (client.as.authorization_response_iss_parameter_supported) return client.as;
  const advertised = await issAdvertised(ctx, client);
  return { ...client.as, authorization_response_iss_parameter_supported: advertised === true };
}
