// A real OAuth 2.0 authorization server (panva's oidc-provider) on a random 127.0.0.1 port. Interactions (login,
// consent) are approved by a handler here, so a test drives the flow with plain HTTP and a cookie jar.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestProvider {
  issuer: string;
  /** Registers the client (with Coffer's callback as redirect URI); call once Coffer's URL is known. */
  init(redirectUris: string[]): void;
  clientId: string;
  clientSecret: string;
  provider: any;
  /** Token requests the provider answered, by grant type (successful or not). */
  tokenRequests: Record<string, number>;
  /** Every request that reached the token endpoint, answered or not. */
  tokenEndpointHits: number;
  /** Requests for the provider's metadata (`/.well-known/…`). */
  discoveryRequests: number;
  /** While above zero, each token request is answered 503 (an outage in front of the provider) and counts down. */
  tokenOutages: number;
  /** While set, each token response waits for it after the provider did its work (a slow or hanging token endpoint). */
  tokenHold: Promise<void> | null;
  /** Writes a connector file pointing at this provider into `dir`; returns its service id. */
  writeConnector(dir: string, options?: ConnectorOptions): string;
  close(): Promise<void>;
}

export interface ConnectorOptions {
  id?: string;
  grantType?: 'authorization_code' | 'client_credentials';
  pkce?: boolean;
  issuer?: string;
  /** The consumer brings client_id/client_secret as settings instead of the application. */
  consumerClient?: boolean;
  unifiedApis?: string[];
  /** `oauth.browser_binding` in the file (absent by default). */
  browserBinding?: boolean;
  /** `oauth.iss_parameter_supported` in the file (absent by default). */
  issParameterSupported?: boolean;
}

export interface ProviderOptions {
  accessTokenTtl?: number;
  /** False: no metadata documents (`/.well-known/…` answers 404), like providers without discovery. Default true. */
  discovery?: boolean;
}

export async function startProvider(options: ProviderOptions = {}): Promise<TestProvider> {
  const clientId = 'coffer-test-client';
  const clientSecret = 'coffer-test-secret-' + Math.random().toString(36).slice(2);
  const tokenRequests: Record<string, number> = {};
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let provider: any = null;
  let callback: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;
  const init = (redirectUris: string[]) => {
  const configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
    },
    scopes: ['openid', 'offline_access', 'api'],
    clientBasedCORS: () => true,
    issueRefreshToken: async (_ctx: unknown, client: any) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    pkce: { required: () => false },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      ClientCredentials: options.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      RefreshToken: 14 * 86400,
      Grant: 14 * 86400,
      Interaction: 600,
      Session: 86400,
    },
    interactions: { url: (_ctx: unknown, interaction: any) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    cookies: { keys: ['coffer-test-cookie-key'] },
  };
  provider = new Provider(issuer, configuration);
  provider.on('grant.success', (ctx: any) => count(ctx.oidc.params?.grant_type));
  provider.on('grant.error', (ctx: any) => count(ctx.oidc.params?.grant_type));
  callback = provider.callback();
  };
  function count(grantType: unknown) {
    const key = String(grantType ?? 'unknown');
    tokenRequests[key] = (tokenRequests[key] ?? 0) + 1;
  }

  server.on('request', async (req, res) => {
    if (!provider || !callback) {
      res.statusCode = 503;
      res.end('provider not initialised');
      return;
    }
    const pathname = req.url?.split('?')[0] ?? '';
    if (pathname === '/token') handle.tokenEndpointHits += 1;
    if (pathname.startsWith('/.well-known/')) {
      handle.discoveryRequests += 1;
      if (options.discovery === false) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
        return;
      }
    }
    const hold = req.method === 'POST' && pathname === '/token' ? handle.tokenHold : null;
    if (hold) {
      // The provider does its work (rotates, records) at once; only its answer waits.
      const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
      res.end = ((...args: unknown[]) => {
        void hold.then(() => end(...args));
        return res;
      }) as typeof res.end;
    }
    if (req.method === 'POST' && pathname === '/token' && handle.tokenOutages > 0) {
      handle.tokenOutages -= 1;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'maintenance' }));
      return;
    }
    if (req.url?.startsWith('/interaction/')) {
      try {
        await approve(provider, req, res);
      } catch (error) {
        res.statusCode = 500;
        res.end(String(error));
      }
      return;
    }
    callback(req, res);
  });

  const handle: TestProvider = {
    issuer,
    init,
    tokenOutages: 0,
    tokenHold: null,
    tokenEndpointHits: 0,
    discoveryRequests: 0,
    clientId,
    clientSecret,
    get provider() {
      return provider;
    },
    tokenRequests,
    writeConnector(dir, connector = {}) {
      const id = connector.id ?? 'test-oidc';
      const grantType = connector.grantType ?? 'authorization_code';
      const lines = [
        `id: ${id}`,
        `name: Test OIDC (${id})`,
        'website: https://provider.example',
        `unified_apis: [${(connector.unifiedApis ?? ['crm']).join(', ')}]`,
        'auth_type: oauth2',
        'oauth:',
        `  grant_type: ${grantType}`,
        ...(grantType === 'authorization_code' ? [`  authorization_url: ${issuer}/auth`, `  pkce: ${connector.pkce ?? true}`] : []),
        `  token_url: ${issuer}/token`,
        `  revocation_url: ${issuer}/token/revocation`,
        `  issuer: ${connector.issuer ?? issuer}`,
        ...(connector.browserBinding === undefined ? [] : [`  browser_binding: ${connector.browserBinding}`]),
        ...(connector.issParameterSupported === undefined ? [] : [`  iss_parameter_supported: ${connector.issParameterSupported}`]),
        '  scopes: [api]',
        'form_fields:',
        ...(connector.consumerClient
          ? [
              '  - { id: client_id, label: Client ID, type: text, required: true }',
              '  - { id: client_secret, label: Client secret, type: password, required: true, sensitive: true }',
            ]
          : ['  - { id: workspace, label: Workspace, type: text }']),
        ...(connector.consumerClient ? ['settings_required_for_authorization: [client_id, client_secret]'] : []),
      ];
      fs.writeFileSync(path.join(dir, `${id}.yaml`), lines.join('\n') + '\n');
      return id;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
  return handle;
}

/** Logs in `test-user` and grants every scope asked for. */
async function approve(provider: any, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'test-user' } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: session!.accountId, clientId: params.client_id as string });
  const missingScope = prompt.details.missingOIDCScope as string[] | undefined;
  if (missingScope) grant.addOIDCScope(missingScope.join(' '));
  const missingResourceScopes = prompt.details.missingResourceScopes as Record<string, string[]> | undefined;
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** The outbound policy a Coffer needs to reach this in-process provider: plain http, on loopback. */
export const LOCAL_PROVIDER_ENV = { COFFER_ALLOW_INSECURE_PROVIDERS: 'true', COFFER_ALLOW_PRIVATE_UPSTREAMS: 'true' } as const;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A browser's cookies, per host:port (stricter than a browser, which shares them across ports); paths are ignored. */
export type CookieJar = Map<string, Map<string, string>>;

export const newCookieJar = (): CookieJar => new Map();

/** One request as a browser would send it (no redirect followed): the jar's cookies go out, Set-Cookie comes back in. */
export async function browserFetch(jar: CookieJar, url: string | URL): Promise<Response> {
  const { host } = new URL(url);
  const cookies = jar.get(host);
  const res = await fetch(url, {
    redirect: 'manual',
    headers: cookies?.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
  });
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const hostJar = jar.get(host) ?? new Map<string, string>();
    if (/;\s*max-age=0\s*(;|$)/i.test(line)) hostJar.delete(name);
    else hostJar.set(name, pair.slice(eq + 1).trim());
    jar.set(host, hostJar);
  }
  return res;
}

/** A browser stand-in: follows redirects with a cookie jar until `stop(url)` says the target is reached. */
export async function followRedirects(
  start: string,
  stop: (url: URL) => boolean,
  maxHops = 20,
  jar: CookieJar = newCookieJar(),
): Promise<{ url: URL; status: number; body: string; hops: string[] }> {
  const hops: string[] = [];
  let url = new URL(start);
  for (let hop = 0; hop < maxHops; hop++) {
    hops.push(url.toString());
    if (stop(url)) return { url, status: 0, body: '', hops };
    const res = await browserFetch(jar, url);
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return { url, status: res.status, body: await res.text(), hops };
    await res.arrayBuffer();
    url = new URL(location, url);
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}

/** A connector (as an object, for JSON/YAML files) whose OAuth endpoints are this provider's and whose API is `apiBaseUrl`. */
export function oauthConnectorFor(issuer: string, connector: { id: string; name: string; apiBaseUrl: string }) {
  return {
    id: connector.id,
    name: connector.name,
    website: `https://${connector.id}.example`,
    unified_apis: ['crm'],
    auth_type: 'oauth2',
    oauth: {
      grant_type: 'authorization_code',
      authorization_url: `${issuer}/auth`,
      token_url: `${issuer}/token`,
      revocation_url: `${issuer}/token/revocation`,
      issuer,
      scopes: ['api'],
      pkce: true,
    },
    form_fields: [{ id: 'workspace', label: 'Workspace', type: 'text' }],
    proxy: { base_url: connector.apiBaseUrl, auth: { type: 'bearer', value: '{access_token}' } },
  };
}
