// The one client every call carrying a credential goes out on: OAuth grants, refreshes and revocations (through
// oauth4webapi's customFetch), verification and custom-field discovery, Flows token endpoints and the proxy.
// Scheme and literal addresses are checked before a byte is sent; host names are checked inside the pool's DNS
// lookup (guarded-agent.ts), so the address connected to is the address checked; redirects are never followed.
import * as oauth from 'oauth4webapi';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';
import { checkLiteralAddress, checkProtocol, privateAddressRefused, type UpstreamPolicy } from './address-policy.js';
import { createUpstreamAgent, PRIVATE_ADDRESS_CODE } from './guarded-agent.js';

/** The error code behind a failed undici call (fetch wraps it in a TypeError's cause). */
export function failureCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string; cause?: { code?: string } } } | null;
  if (!e) return undefined;
  if (e.code && e.code !== 'UND_ERR_CONNECT') return e.code;
  return e.cause?.code ?? e.cause?.cause?.code ?? e.code;
}

/** Why an outbound call got no answer, in words that never quote what was sent. */
export function describeFailure(error: unknown, url: URL): string {
  const e = error as { name?: string } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `${url.host} did not answer in time`;
  const code = failureCode(error);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `Cannot resolve ${url.hostname}`;
  return `Could not reach ${url.host}${code ? ` (${code})` : ''}`;
}

export interface OAuthRequestOptions {
  [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, unknown>) => Promise<Response>;
  [oauth.allowInsecureRequests]?: boolean;
  signal: AbortSignal;
}

export class GuardedClient {
  readonly agent: Agent;

  constructor(
    readonly policy: UpstreamPolicy,
    options: { connectTimeoutMs: number },
  ) {
    this.agent = createUpstreamAgent(policy, options);
  }

  /** The checks that need no DNS: https unless allowed, and no literal private address unless allowed. */
  check(url: URL): void {
    checkProtocol(url, this.policy);
    checkLiteralAddress(url, this.policy);
  }

  /** `fetch` on the guarded pool. A refused address is a 400 VaultError; other failures are thrown as undici's. */
  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input);
    this.check(url);
    try {
      const response = await undiciFetch(url, { ...(init as UndiciRequestInit), redirect: 'manual', dispatcher: this.agent });
      return response as unknown as Response;
    } catch (error) {
      if (failureCode(error) === PRIVATE_ADDRESS_CODE) throw privateAddressRefused(url.hostname);
      throw error;
    }
  };

  /** Options for one oauth4webapi request: routed through this client, with its own timeout. */
  oauthOptions(timeoutMs: number): OAuthRequestOptions {
    return {
      [oauth.customFetch]: (url, init) => this.fetch(url, init as unknown as RequestInit),
      ...(this.policy.allowInsecure ? { [oauth.allowInsecureRequests]: true } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    };
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}
