// No credential leaves for an address inside the network unless configured: loopback, private, link-local and
// unique-local ranges are refused by default (a consumer-supplied `instance_url` must not reach internal services).
import net from 'node:net';
import { VaultError } from '../vault/errors.js';

const blocked = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.168.0.0', 16], ['198.18.0.0', 15],
] as const) blocked.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of [['::1', 128], ['::', 128], ['fc00::', 7], ['fe80::', 10]] as const) blocked.addSubnet(address, prefix, 'ipv6');

export interface UpstreamPolicy {
  allowPrivateNetworks: boolean;
  allowInsecure: boolean;
}

/** Loopback, private, link-local, unique-local (IPv4-mapped IPv6 addresses count as their IPv4 address). */
export function isPrivateAddress(address: string): boolean {
  const mapped = address.toLowerCase().startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
  const family = net.isIP(mapped);
  return family !== 0 && blocked.check(mapped, family === 6 ? 'ipv6' : 'ipv4');
}

/** `localhost` and the names under it (RFC 6761: they resolve to loopback), in any case, with or without the root dot. */
export function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

export const privateAddressRefused = (host: string) =>
  new VaultError(400, 'RequestValidationError', `Refusing to send credentials to ${host}: it is a private or loopback address`);

export function checkProtocol(url: URL, policy: UpstreamPolicy): void {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowInsecure)) {
    throw new VaultError(400, 'RequestValidationError', `Refusing to send credentials over ${url.protocol.replace(':', '')} to ${url.host}`);
  }
}

/**
 * For calls on the guarded pool (guarded-agent.ts): host names are checked inside its DNS lookup, which a literal IP
 * never goes through, so only a literal needs checking here — no second resolution.
 */
export function checkLiteralAddress(url: URL, policy: UpstreamPolicy): void {
  if (!policy.allowPrivateNetworks && isPrivateLiteral(url.hostname)) throw privateAddressRefused(url.hostname.replace(/^\[|\]$/g, ''));
}

/** Whether a URL's host name is a literal loopback or private address (an IPv6 literal in its brackets or not). */
export function isPrivateLiteral(hostname: string): boolean {
  const literal = hostname.replace(/^\[|\]$/g, '');
  return net.isIP(literal) !== 0 && isPrivateAddress(literal);
}
