// In-memory copy of what every request reads and rarely changes: a valid API key → its application, and enabled
// connectors.
// Dropped whenever the store's change feed reports an application-wide change (by this process or another), and after
// a short time to live as a safety net.
import type { ChangeFeed } from '../store/change-feed.js';
import type { AppConnectorRow } from './connection-view.js';

const TIME_TO_LIVE_MS = 5_000;
const MAX_KEYS = 10_000;

export interface CachedAppConnector extends AppConnectorRow {
  service_id: string;
  scopes: string | null;
}

export class TenantCache {
  private readonly apiKeys = new Map<string, string>();
  private readonly appConnectors = new Map<string, CachedAppConnector[]>();
  private readonly proxyHosts = new Map<string, string[]>();
  private readonly requestLimits = new Map<string, number | null>();
  private filledAt = Date.now();

  constructor(private readonly changes: ChangeFeed) {
    // A connection's change leaves tenant configuration as it was.
    changes.subscribe((scope) => {
      if (scope === null || scope.consumerId === undefined) this.clear();
    });
  }

  private fresh(): void {
    this.changes.catchUp();
    if (Date.now() - this.filledAt > TIME_TO_LIVE_MS) this.clear();
  }

  clear(): void {
    this.apiKeys.clear();
    this.appConnectors.clear();
    this.proxyHosts.clear();
    this.requestLimits.clear();
    this.filledAt = Date.now();
  }

  /** The application of an API key that authenticated before (the key as presented: no HMAC on a hit). */
  applicationOfKey(apiKey: string): string | undefined {
    this.fresh();
    return this.apiKeys.get(apiKey);
  }

  rememberKey(apiKey: string, applicationId: string): void {
    if (this.apiKeys.size >= MAX_KEYS) this.apiKeys.clear();
    this.apiKeys.set(apiKey, applicationId);
  }

  connectorsOf(applicationId: string): CachedAppConnector[] | undefined {
    this.fresh();
    return this.appConnectors.get(applicationId);
  }

  rememberConnectors(applicationId: string, rows: CachedAppConnector[]): void {
    if (this.appConnectors.size >= MAX_KEYS) this.appConnectors.clear();
    this.appConnectors.set(applicationId, rows);
  }

  proxyHostsOf(applicationId: string): string[] | undefined {
    this.fresh();
    return this.proxyHosts.get(applicationId);
  }

  rememberProxyHosts(applicationId: string, hosts: string[]): void {
    if (this.proxyHosts.size >= MAX_KEYS) this.proxyHosts.clear();
    this.proxyHosts.set(applicationId, hosts);
  }

  /** The application's requests-per-minute limit: a number, null for none, undefined when not cached. */
  requestLimitOf(applicationId: string): number | null | undefined {
    this.fresh();
    return this.requestLimits.get(applicationId);
  }

  rememberRequestLimit(applicationId: string, perMinute: number | null): void {
    if (this.requestLimits.size >= MAX_KEYS) this.requestLimits.clear();
    this.requestLimits.set(applicationId, perMinute);
  }
}
