// The connection pool proxied calls go out on. Unless private upstreams are allowed, the private-address check runs
// inside the pool's DNS lookup: the address a socket connects to is the address that was checked, so a host name that
// resolves to a public address for a pre-check and to 127.0.0.1 a moment later (DNS rebinding) gets nowhere.
import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent } from 'undici';
import { isPrivateAddress, type UpstreamPolicy } from './address-policy.js';

/** The code of the error a refused lookup fails the connection with (mapped to a 400 by the forwarder). */
export const PRIVATE_ADDRESS_CODE = 'ECOFFER_PRIVATE_ADDRESS';

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused || addresses.length === 0) {
      const failure = Object.assign(new Error(`${hostname} resolves to a private or loopback address`), { code: PRIVATE_ADDRESS_CODE });
      return callback(failure, '');
    }
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}

export interface UpstreamAgentOptions {
  connectTimeoutMs: number;
}

export function createUpstreamAgent(policy: UpstreamPolicy, options: UpstreamAgentOptions): Agent {
  return new Agent({
    // Keep-alive pools per origin: the proxy's hot path should never pay for a new TCP/TLS handshake.
    keepAliveTimeout: 10_000,
    connections: 256,
    connect: {
      timeout: options.connectTimeoutMs,
      ...(policy.allowPrivateNetworks ? {} : { lookup: guardedLookup }),
    },
  });
}
