// Apideck's success and error envelopes.
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';

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
  return reply.code(200).type('application/json; charset=utf-8').send(okBodyOf(dataJson));
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
