// Preloaded (`node --import`) into the fuzzed Coffer: every name but loopback's fails to resolve, so nothing the
// fuzzer makes Coffer do (proxy calls, webhooks, token refreshes) can leave 127.0.0.1. Same rule as
// test/support/no-internet.ts, for a child process.
import dns from 'node:dns';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const realLookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, ...rest) {
  const callback = rest[rest.length - 1];
  if (!LOOPBACK.has(hostname) && !String(hostname).endsWith('.localhost')) {
    const error = Object.assign(new Error(`fuzzed Coffer tried to resolve an internet host: ${hostname}`), { code: 'ENOTFOUND', hostname });
    process.nextTick(() => callback(error));
    return;
  }
  return realLookup.call(dns, hostname, ...rest);
};
