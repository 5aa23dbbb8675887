// `limit`/`cursor` parsing and the `meta`/`links` of paged lists.
import type { FastifyRequest } from 'fastify';
import { badRequest } from '../vault/errors.js';

export function parseLimit(raw: unknown): number {
  if (raw === undefined || raw === '') return 20;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw badRequest('limit must be an integer from 1 to 200', { invalid: [{ limit: '1-200' }] });
  return n;
}

export function parseCursor(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw badRequest('cursor must be a single string');
  return raw;
}

export function pageMeta(publicUrl: string, request: FastifyRequest, itemsOnPage: number, current: string | undefined, next: string | null) {
  const [path, query] = request.url.split('?');
  const link = (cursor: string | null | undefined) => {
    const params = new URLSearchParams(query ?? '');
    params.delete('cursor');
    if (cursor) params.set('cursor', cursor);
    const qs = params.toString();
    return `${publicUrl}${path}${qs ? `?${qs}` : ''}`;
  };
  return {
    meta: { items_on_page: itemsOnPage, cursors: { previous: null, current: current ?? null, next } },
    links: { previous: null, current: link(current), next: next ? link(next) : null },
  };
}
