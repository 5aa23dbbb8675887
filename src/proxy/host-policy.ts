// No token leaves for a host it does not belong to: a proxied call may go to the host of the connector's own API
// (its proxy base URL, filled with the connection's settings) or to a host on the application's allow-list.
import { hostMatches } from '../connectors/url-template.js';
import { VaultError } from '../vault/errors.js';

export function isAllowedHost(url: URL, connectorHosts: string[], allowList: string[]): boolean {
  return connectorHosts.includes(url.host) || hostMatches(url, allowList);
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
