// vitest setup file: the tests never reach the internet. Coffer runs in-process in most test files: its outbound
// calls go out on its guarded undici pool, whose connections resolve names with `dns.lookup`, so any name but
// loopback's fails loudly here instead of depending on the network; the tests' own `fetch` is wrapped the same way.
// Child-process servers (test/cli) are not covered.
import dns from 'node:dns';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const GUARDED = Symbol.for('coffer.test.no-internet');

if (!(dns.lookup as typeof dns.lookup & { [GUARDED]?: true })[GUARDED]) {
  const realLookup = dns.lookup;
  const guardedLookup = (hostname: string, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (error: NodeJS.ErrnoException) => void;
    if (!LOOPBACK.has(hostname) && !hostname.endsWith('.localhost')) {
      const error = Object.assign(new Error(`test tried to resolve an internet host: ${hostname}`), { code: 'ENOTFOUND', hostname });
      process.stderr.write(`${error.message}\n${error.stack?.split('\n').slice(1, 8).join('\n') ?? ''}\n`);
      process.nextTick(() => callback(error));
      return;
    }
    return (realLookup as (...args: unknown[]) => unknown)(hostname, ...rest);
  };
  dns.lookup = Object.assign(guardedLookup, { [GUARDED]: true as const }) as unknown as typeof dns.lookup;
}

function urlOf(input: string | URL | Request): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

if (!(globalThis.fetch as typeof fetch & { [GUARDED]?: true })[GUARDED]) {
  const realFetch = globalThis.fetch;
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = urlOf(input);
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      // Not an absolute URL: the real fetch rejects it with its own error.
    }
    if (parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:' || parsed.protocol === 'ws:' || parsed.protocol === 'wss:') && !LOOPBACK.has(parsed.hostname)) {
      const error = new Error(`test tried to reach the internet: ${url}`);
      // The server may catch it (a failed refresh is logged, not thrown): say it on stderr as well.
      process.stderr.write(`${error.message}\n${error.stack?.split('\n').slice(1, 8).join('\n') ?? ''}\n`);
      throw error;
    }
    return realFetch(input, init);
  };
  globalThis.fetch = Object.assign(guarded, { [GUARDED]: true as const }) as typeof fetch;
}
