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

// `expect: 100-continue` is between the caller and Coffer (node's server answers it); the provider call sends its body
// at once.
const NOT_FORWARDED = new Set([
  'host', 'authorization', 'cookie', 'expect', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip',
]);

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

/** Whether the caller's answer has a body: not to a HEAD (the caller's or the provider's), nor with a 204 or 304. */
export function answerHasBody(callerMethod: string, downstreamMethod: string, status: number): boolean {
  return callerMethod !== 'HEAD' && downstreamMethod !== 'HEAD' && status !== 204 && status !== 304;
}

/**
 * The provider's headers on an answer without a body. A HEAD's or a 304's length describes the body a GET would get,
 * which is what the caller asked about; but a GET answered from a provider's HEAD has an empty body of its own (a
 * client would wait for the bytes the provider's length promised), and a 204 has no length at all (RFC 9110 §8.6).
 */
export function bodylessAnswerHeaders(
  headers: Record<string, string | string[]>,
  callerMethod: string,
  status: number,
): Record<string, string | string[]> {
  const { 'content-length': length, ...rest } = headers;
  if (status === 204) return rest;
  if (callerMethod === 'HEAD' || status === 304) return headers;
  return { ...rest, 'content-length': '0' };
}
