// No token leaves for a host it does not belong to: a proxied call may go to the host of the connector's own API
// (its proxy base URL, filled with the connection's settings) or to a host on the application's allow-list.
import { VaultError } from '../vault/errors.js';

/** `entry` as stored by `setProxyAllowedHosts`: `host`, `host:port` or `*.domain` (lower-case). */
function matches(url: URL, entry: string): boolean {
  if (entry.startsWith('*.')) return url.hostname.endsWith(entry.slice(1));
  return entry.includes(':') && !entry.startsWith('[') ? url.host === entry : url.hostname === entry || url.host === entry;
}

export function isAllowedHost(url: URL, connectorHosts: string[], allowList: string[]): boolean {
  return connectorHosts.includes(url.host) || allowList.some((entry) => matches(url, entry));
}

export function checkAllowedHost(url: URL, connectorName: string, connectorHosts: string[], allowList: string[]): void {
  if (isAllowedHost(url, connectorHosts, allowList)) return;
  throw new VaultError(
    403,
    'ForbiddenError',
    `Refusing to proxy a ${connectorName} call to ${url.host}: it is neither ${connectorName}'s API host nor on the application's proxy allow-list`,
    { downstream_host: url.host, allowed_hosts: [...connectorHosts, ...allowList] },
  );
}
