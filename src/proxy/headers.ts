// Which headers cross the proxy. Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and never do;
// neither do the caller's Coffer credentials and `x-apideck-*` instructions on the way out, nor a provider's CORS
// headers on the way back (Coffer answers CORS for its own origin).
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
]);

/** Headers named in `Connection: a, b` are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  if (!value) return new Set();
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

const NOT_FORWARDED = new Set(['host', 'authorization', 'cookie', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);

/** The caller's headers as the provider should see them, before credentials are injected. */
export function downstreamRequestHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || NOT_FORWARDED.has(name) || name.startsWith('x-apideck-')) continue;
    out[name] = value;
  }
  return out;
}

/** The provider's response headers as the caller should see them. */
export function upstreamResponseHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name.startsWith('access-control-')) continue;
    out[name] = value;
  }
  return out;
}
