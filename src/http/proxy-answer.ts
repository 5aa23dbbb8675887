// The caller's answer to a proxied call, written on the raw response: the provider's status, headers and streamed body.
// One writer for the `/proxy` route (after `reply.hijack()`) and the hot path (hot-paths.ts), so both answer alike.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { finished } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyResult } from '../proxy/forward.js';
import { CallerGoneError, discardBody } from '../proxy/caller.js';
import { answerHasBody, bodylessAnswerHeaders } from '../proxy/headers.js';
import { VaultError } from '../vault/errors.js';
import { writeErrorAnswer } from './errors.js';

/** Headers of an answer without a body, normalised as fastify did when it sent the empty payload itself. */
function emptyAnswerHeaders(headers: OutgoingHttpHeaders, callerMethod: string, status: number): OutgoingHttpHeaders {
  const out = { ...headers };
  if (status === 204) {
    delete out['content-type'];
    delete out['content-length'];
    return out;
  }
  out['content-type'] ??= 'application/octet-stream';
  // A HEAD's length describes the body a GET would get; any other empty answer is 0 bytes long.
  if (callerMethod !== 'HEAD' || out['content-length'] === undefined) out['content-length'] = '0';
  return out;
}

/**
 * Writes the provider's answer. A body that fails before its first byte is answered with Coffer's envelope, without the
 * provider's headers; one that fails later cuts the connection (the caller sees a short body, never a wrong one).
 */
export function writeProxyAnswer(
  res: ServerResponse,
  baseHeaders: OutgoingHttpHeaders,
  callerMethod: string,
  downstreamMethod: string,
  result: ProxyResult,
  log: FastifyBaseLogger,
): void {
  if (!answerHasBody(callerMethod, downstreamMethod, result.status)) {
    // Nothing of the provider's body reaches the caller; undici even fails a 304 that states a length.
    discardBody(result.body);
    const headers = emptyAnswerHeaders({ ...baseHeaders, ...bodylessAnswerHeaders(result.headers, callerMethod, result.status) }, callerMethod, result.status);
    try {
      res.writeHead(result.status, headers);
    } catch {
      writeErrorAnswer(res, baseHeaders, unsendableHeaders(), log);
      return;
    }
    res.end();
    return;
  }
  try {
    res.statusCode = result.status;
    for (const name in baseHeaders) res.setHeader(name, baseHeaders[name]!);
    for (const name in result.headers) res.setHeader(name, result.headers[name]);
  } catch {
    result.body.destroy();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    writeErrorAnswer(res, baseHeaders, unsendableHeaders(), log);
    return;
  }
  const body = result.body;
  // The outcome is read from the stream's state, not only its events: a provider that cut its body short while the
  // call was still busy (recording the connection's health) has failed it already, and a missed 'error' would leave
  // the caller waiting for an end that never comes.
  finished(body, (error) => {
    if (!error || error instanceof CallerGoneError) return;
    const failure = result.bodyFailure(error);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    writeErrorAnswer(res, baseHeaders, failure, log);
  });
  // A caller gone before its answer ended frees the provider's connection.
  res.once('close', () => {
    if (!res.writableFinished) body.destroy();
  });
  body.pipe(res);
}

const unsendableHeaders = () => new VaultError(502, 'ConnectorExecutionError', 'The provider answered with headers that cannot be forwarded');
