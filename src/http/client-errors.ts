// Requests node's HTTP parser refuses before any route sees them (a control character in a header, a malformed
// request line, headers too large) and CONNECT (node hands it to no request handler) still get Apideck's error
// envelope; the connection is then closed, as its framing can no longer be trusted. The request line may not be
// readable, so the body also carries Auth0's fields (`statusCode`, `errorCode`) for callers of `/api/v2`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { auth0ErrorBody } from './auth0-errors.js';
import { errorBody, reason } from './envelope.js';

function closingAnswer(status: number, typeName: string, message: string): string {
  const body = JSON.stringify({ ...errorBody(status, typeName, message), ...auth0ErrorBody(status, 'bad_request', message) });
  return `HTTP/1.1 ${status} ${reason(status)}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** fastify's `clientErrorHandler`. */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? closingAnswer(408, 'RequestTimeoutError', 'The request did not arrive in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? closingAnswer(431, 'RequestHeaderFieldsTooLargeError', 'The request headers are too large')
        : closingAnswer(400, 'BadRequestError', 'Malformed HTTP request: its request line or a header has characters HTTP does not allow');
  if (socket.writable) socket.end(answer);
  else socket.destroy();
}

/** The server's `connect` listener: Coffer is no forward proxy. */
export function refuseConnect(_request: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => {});
  socket.end(closingAnswer(405, 'MethodNotAllowedError', 'CONNECT is not supported: Coffer is not a forward proxy'));
}
