// Apideck's success and error envelopes.
import type { FastifyReply } from 'fastify';
import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

/** The content type of every JSON answer. */
export const JSON_TYPE = 'application/json; charset=utf-8';

export function reason(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

export function okBody(data: unknown, extra: { status?: number; meta?: unknown; links?: unknown } = {}): Record<string, unknown> {
  const status = extra.status ?? 200;
  const body: Record<string, unknown> = { status_code: status, status: reason(status), data };
  if (extra.meta !== undefined) body.meta = extra.meta;
  if (extra.links !== undefined) body.links = extra.links;
  return body;
}

export function ok(reply: FastifyReply, data: unknown, extra: { status?: number; meta?: unknown; links?: unknown } = {}) {
  return reply.code(extra.status ?? 200).send(okBody(data, extra));
}

/** The body of `ok` around data already serialized. */
export const okBodyOf = (dataJson: string) => `{"status_code":200,"status":"OK","data":${dataJson}}`;

/** `ok` for data already serialized (a rendered view): the same envelope, without parsing and serializing it again. */
export function okJson(reply: FastifyReply, dataJson: string) {
  return reply.code(200).type(JSON_TYPE).send(okBodyOf(dataJson));
}

export function errorBody(status: number, typeName: string, message: string, detail?: unknown) {
  return {
    status_code: status,
    error: reason(status),
    type_name: typeName,
    message,
    detail: detail ?? message,
    ref: `https://developers.apideck.com/errors#${typeName.toLowerCase()}`,
  };
}

/** A JSON answer written on the raw response (the hot paths and the proxy, which answer outside fastify's reply). */
export function writeJson(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string): void {
  res.writeHead(status, { ...headers, 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
