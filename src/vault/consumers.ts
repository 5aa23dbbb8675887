// Consumers of an application: list/search, detail with connections, metadata, deletion and request stats.
import { sql } from 'kysely';
import type { VaultContext } from './context.js';
import { decodeConnection } from '../store/connection-record.js';
import { consumerConnectionView } from './connection-view.js';
import { removeConnection } from './connections.js';
import { consumerMetadata, upsertConsumer, type ConsumerMetadata } from '../store/consumers.js';
import { badRequest, notFound } from './errors.js';
import { iso } from './ids.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

interface ConsumerRow {
  consumer_id: string;
  application_id: string;
  metadata: unknown;
  request_count_unify: number;
  request_count_proxy: number;
  request_count_vault: number;
  request_count_updated: number | null;
  created_at: number;
  updated_at: number;
}

async function servicesOf(ctx: VaultContext, applicationId: string, consumerIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (consumerIds.length === 0) return out;
  const rows = await ctx.db
    .selectFrom('connections')
    .select(['consumer_id', 'service_id'])
    .where('application_id', '=', applicationId)
    .where('consumer_id', 'in', consumerIds)
    .orderBy('service_id')
    .execute();
  for (const r of rows) out.set(r.consumer_id, [...(out.get(r.consumer_id) ?? []), r.service_id]);
  return out;
}

function toConsumer(row: ConsumerRow, services: string[]) {
  const counts = { unify: Number(row.request_count_unify), proxy: Number(row.request_count_proxy), vault: Number(row.request_count_vault) };
  return {
    consumer_id: row.consumer_id,
    application_id: row.application_id,
    metadata: consumerMetadata(row.metadata),
    aggregated_request_count: counts.unify + counts.proxy + counts.vault,
    request_counts: counts,
    created: iso(row.created_at),
    modified: iso(row.updated_at),
    request_count_updated: iso(row.request_count_updated ?? row.created_at),
    services,
  };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);

export async function listConsumers(
  ctx: VaultContext,
  applicationId: string,
  options: { filter?: { consumer_id?: string; search?: string }; cursor?: string; limit: number },
): Promise<Page<ReturnType<typeof toConsumer>>> {
  const after = decodeCursor(options.cursor);
  let query = ctx.db.selectFrom('consumers').selectAll().where('application_id', '=', applicationId);
  // LIKE needs an explicit escape character in SQLite; PostgreSQL accepts the same clause.
  if (options.filter?.consumer_id) query = query.where(sql<boolean>`consumer_id like ${escapeLike(options.filter.consumer_id) + '%'} escape '\\'`);
  if (options.filter?.search) query = query.where(sql<boolean>`search_text like ${'%' + escapeLike(options.filter.search.toLowerCase()) + '%'} escape '\\'`);
  if (after !== null) query = query.where('consumer_id', '>', after);
  const rows = (await query.orderBy('consumer_id').limit(options.limit + 1).execute()) as ConsumerRow[];
  const page = rows.slice(0, options.limit);
  const services = await servicesOf(ctx, applicationId, page.map((r) => r.consumer_id));
  return {
    data: page.map((r) => toConsumer(r, services.get(r.consumer_id) ?? [])),
    next: rows.length > options.limit ? encodeCursor(page[page.length - 1].consumer_id) : null,
  };
}

async function findConsumer(ctx: VaultContext, applicationId: string, consumerId: string): Promise<ConsumerRow> {
  const row = await ctx.db
    .selectFrom('consumers')
    .selectAll()
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .executeTakeFirst();
  if (!row) throw notFound('consumer', consumerId);
  return row as ConsumerRow;
}

export async function getConsumer(ctx: VaultContext, applicationId: string, consumerId: string) {
  const row = await findConsumer(ctx, applicationId, consumerId);
  const connectionRows = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .orderBy('service_id')
    .execute();
  const connections = [];
  for (const c of connectionRows) {
    const def = ctx.catalogue.get(c.service_id);
    if (!def) continue;
    connections.push(consumerConnectionView(def, await decodeConnection(ctx.keyring, c)));
  }
  return { ...toConsumer(row, connectionRows.map((c) => c.service_id)), connections };
}

export async function createConsumer(ctx: VaultContext, applicationId: string, consumerId: string, metadata?: ConsumerMetadata) {
  if (!consumerId.trim()) throw badRequest('consumer_id must not be empty', { missing: [{ consumer_id: 'required' }] });
  await upsertConsumer(ctx.db, applicationId, consumerId, metadata);
  return getConsumer(ctx, applicationId, consumerId);
}

export async function updateConsumer(ctx: VaultContext, applicationId: string, consumerId: string, metadata: ConsumerMetadata | undefined) {
  const row = await findConsumer(ctx, applicationId, consumerId);
  if (metadata) await upsertConsumer(ctx.db, applicationId, consumerId, { ...consumerMetadata(row.metadata), ...metadata });
  return getConsumer(ctx, applicationId, consumerId);
}

/** Deletes the consumer with every connection (credentials included); each connection emits `deleted`. */
export async function deleteConsumer(ctx: VaultContext, applicationId: string, consumerId: string) {
  await findConsumer(ctx, applicationId, consumerId);
  await ctx.db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom('connections').selectAll().where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
    for (const row of rows) {
      const def = ctx.catalogue.get(row.service_id);
      const rec = await decodeConnection(ctx.keyring, row, trx);
      if (def) await removeConnection(trx, def, rec);
      else await trx.deleteFrom('connections').where('id', '=', row.id).execute();
    }
    for (const table of ['consents', 'custom_mappings', 'callback_states'] as const) {
      await trx.deleteFrom(table).where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
    }
    await trx.deleteFrom('consumers').where('application_id', '=', applicationId).where('consumer_id', '=', consumerId).execute();
  });
  return { consumer_id: consumerId };
}

function parseDate(value: string | undefined, name: string): number {
  const ms = value ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw badRequest(`${name} must be an ISO 8601 date-time`, { invalid: [{ [name]: 'ISO 8601 date-time' }] });
  return ms;
}

export async function consumerStats(ctx: VaultContext, applicationId: string, consumerId: string, start?: string, end?: string) {
  const from = parseDate(start, 'start_datetime');
  const to = parseDate(end, 'end_datetime');
  if (to < from) throw badRequest('end_datetime must not be before start_datetime');
  await findConsumer(ctx, applicationId, consumerId);
  const rows = await ctx.db
    .selectFrom('request_logs')
    .select(['unified_api', (eb) => eb.fn.countAll<number>().as('n')])
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .where('created_at', '>=', from)
    .where('created_at', '<=', to)
    .groupBy('unified_api')
    .execute();
  const counts = { unify: 0, proxy: 0, vault: 0 };
  for (const r of rows) {
    const bucket = r.unified_api === 'vault' ? 'vault' : r.unified_api === 'proxy' ? 'proxy' : 'unify';
    counts[bucket] += Number(r.n);
  }
  return {
    application_id: applicationId,
    consumer_id: consumerId,
    start_datetime: new Date(from).toISOString(),
    end_datetime: new Date(to).toISOString(),
    aggregated_request_count: counts.unify + counts.proxy + counts.vault,
    request_counts: counts,
  };
}

