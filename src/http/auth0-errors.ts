// Auth0's Management API error body, `{statusCode, error, message, errorCode}`, for the routes under /api/v2.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { FlowsError } from '../flows/errors.js';
import { VaultError } from '../vault/errors.js';
import { reason } from './envelope.js';

export function auth0ErrorBody(statusCode: number, errorCode: string, message: string) {
  return { statusCode, error: reason(statusCode), message, errorCode };
}

function toAuth0(error: FastifyError): { status: number; errorCode: string; message: string } | null {
  if (error instanceof FlowsError) return { status: error.statusCode, errorCode: error.errorCode, message: error.message };
  if (error instanceof VaultError && error.statusCode === 429) return { status: 429, errorCode: 'too_many_requests', message: error.message };
  if (error instanceof VaultError && error.statusCode < 500) return { status: error.statusCode, errorCode: 'invalid_request', message: error.message };
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return { status: 400, errorCode: 'invalid_body', message: 'Payload validation error: the body is not valid JSON' };
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, errorCode: 'payload_too_large', message: 'Request body is larger than 1 MiB' };
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { status: 415, errorCode: 'unsupported_media_type', message: 'Send request bodies as application/json or application/x-www-form-urlencoded' };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, errorCode: 'bad_request', message: error.message };
  return null;
}

/** Installs Auth0-shaped error and not-found handlers on an encapsulated plugin (the Apideck ones stay outside). */
export function installAuth0ErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply) => {
    const known = toAuth0(error);
    if (known) return reply.code(known.status).send(auth0ErrorBody(known.status, known.errorCode, known.message));
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(auth0ErrorBody(500, 'internal_error', 'An unexpected error occurred; see the server log'));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(auth0ErrorBody(404, 'not_found', `Unknown endpoint ${request.method} ${request.url.split('?')[0]}`));
  });
}
