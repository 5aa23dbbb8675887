// Every failure leaves as Apideck's error envelope with a 4xx where the caller can fix it.
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auth0ErrorBody } from './auth0-errors.js';
import { MAX_ID_LENGTH } from './input-bounds.js';
import { VersionConflictError } from '../store/connections.js';
import { isStoreBusy } from '../store/database.js';
import { VaultError } from '../vault/errors.js';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { errorBody, writeJson } from './envelope.js';

/** Turns ajv's first complaint into Apideck's `{missing: [...]}` / `{invalid: [...]}` detail. */
function validationDetail(error: FastifyError): { message: string; detail: unknown } {
  const first = error.validation?.[0];
  const where = error.validationContext ?? 'body';
  if (!first) return { message: error.message, detail: error.message };
  const base = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (first.keyword === 'required') {
    const field = [base, (first.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
    return { message: `Missing property ${field}`, detail: { missing: [{ [field]: 'required' }] } };
  }
  if (first.keyword === 'additionalProperties') {
    const field = [base, (first.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.');
    return { message: `Unknown property ${field} in ${where}`, detail: { invalid: [{ [field]: 'not allowed' }] } };
  }
  const field = base || where;
  return { message: `Invalid ${where}: ${field} ${first.message ?? 'is invalid'}`, detail: { invalid: [{ [field]: first.message ?? 'invalid' }] } };
}

export interface ErrorAnswer {
  status: number;
  body: ReturnType<typeof errorBody>;
  headers?: Record<string, string>;
}

/** The answer to a failed request; what the caller cannot fix is logged. */
export function errorAnswer(error: FastifyError, log: FastifyBaseLogger): ErrorAnswer {
  if (error instanceof VaultError) return { status: error.statusCode, body: errorBody(error.statusCode, error.typeName, error.message, error.detail) };
  if (error.validation) {
    const { message, detail } = validationDetail(error);
    return { status: 400, body: errorBody(400, 'RequestValidationError', message, detail) };
  }
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, body: errorBody(413, 'RequestTooLargeError', 'Request body is larger than 1 MiB') };
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, body: errorBody(415, 'UnsupportedMediaTypeError', 'Send request bodies as application/json') };
  if (status >= 400 && status < 500) {
    const typeName = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'RequestValidationError' : 'BadRequestError';
    return { status, body: errorBody(status, typeName, error.message.replace(/^Body is not valid JSON.*$/, 'Body is not valid JSON')) };
  }
  if (error instanceof VersionConflictError) return { status: 409, body: errorBody(409, 'ConflictError', error.message, error.message) };
  if (isStoreBusy(error)) {
    log.warn({ err: error }, 'database busy');
    return { status: 503, body: errorBody(503, 'ServiceUnavailableError', 'The database is busy; retry shortly'), headers: { 'retry-after': '1' } };
  }
  log.error({ err: error }, 'unhandled error');
  return { status: 500, body: errorBody(500, 'UnexpectedError', 'An unexpected error occurred', 'An unexpected error occurred; see the server log') };
}

/** Answers with the error envelope on the raw response (nothing else of the answer was sent). */
export function writeErrorAnswer(res: ServerResponse, baseHeaders: OutgoingHttpHeaders, error: unknown, log: FastifyBaseLogger): void {
  const answer = errorAnswer(error as FastifyError, log);
  writeJson(res, answer.status, { ...baseHeaders, ...answer.headers }, JSON.stringify(answer.body));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply) => {
    const answer = errorAnswer(error, request.log);
    if (answer.headers) reply.headers(answer.headers);
    return reply.code(answer.status).send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    reply.code(404).send(errorBody(404, 'NotFoundError', `Unknown endpoint ${request.method} ${path}`, { not_found: { entity: 'route', id: `${request.method} ${path}` } }));
  });
}

const AUTH0_PREFIX = '/api/v2/';

/** The router's refusals (a path that does not decode, a parameter too long to be an id), in the caller's API's shape. */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `A path parameter is longer than ${MAX_ID_LENGTH} characters`
      : 'The request path is not valid percent-encoded UTF-8';
  const body = request.url.startsWith(AUTH0_PREFIX) ? auth0ErrorBody(400, 'invalid_uri', message) : errorBody(400, 'RequestValidationError', message);
  void reply.code(400).send(body);
}
