// Consumers of an application: list/search, detail with connections, metadata, deletion and request stats.
import type { VaultContext } from './context.js';
import { consumerConnectionView } from './connection-view.js';
import { deletedEvent } from './connections.js';
import * as consumers from '../store/consumers.js';
import type { ConsumerMetadata, ConsumerRow } from '../store/consumers.js';
import { countRequestsByUnifiedApi } from '../store/request-logs.js';
import { badRequest, notFound } from './errors.js';
import { iso } from './ids.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

function toConsumer(row: ConsumerRow, services: string[]) {
  const counts = { unify: Number(row.request_count_unify), proxy: Number(row.request_count_proxy), vault: Number(row.request_count_vault) };
  return {
    consumer_id: row.consumer_id,
    application_id: row.application_id,
    metadata: consumers.consumerMetadata(row.metadata),
    aggregated_request_count: counts.unify + counts.proxy + counts.vault,
    request_counts: counts,
    created: iso(row.created_at),
    modified: iso(row.updated_at),
    request_count_updated: iso(row.request_count_updated ?? row.created_at),
    services,
  };
}

export async function listConsumers(
  ctx: VaultContext,
  applicationId: string,
  options: { filter?: { consumer_id?: string; search?: string }; cursor?: string; limit: number },
): Promise<Page<ReturnType<typeof toConsumer>>> {
  const after = decodeCursor(options.cursor);
  // One row more than the page tells whether there is a next one.
  const rows = await consumers.listConsumers(ctx.db, applicationId, {
    consumerIdPrefix: options.filter?.consumer_id,
    search: options.filter?.search,
    afterConsumerId: after ?? undefined,
    limit: options.limit + 1,
  });
  const page = rows.slice(0, options.limit);
  const services = await consumers.servicesOfConsumers(ctx.db, applicationId, page.map((r) => r.consumer_id));
  return {
    data: page.map((r) => toConsumer(r, services.get(r.consumer_id) ?? [])),
    next: rows.length > options.limit ? encodeCursor(page[page.length - 1].consumer_id) : null,
  };
}

async function findConsumer(ctx: VaultContext, applicationId: string, consumerId: string): Promise<ConsumerRow> {
  const row = await consumers.findConsumer(ctx.db, applicationId, consumerId);
  if (!row) throw notFound('consumer', consumerId);
  return row;
}

export async function getConsumer(ctx: VaultContext, applicationId: string, consumerId: string) {
  const row = await findConsumer(ctx, applicationId, consumerId);
  const records = await ctx.connections.listForConsumer(applicationId, consumerId);
  const connections = [];
  for (const rec of records) {
    const def = ctx.catalogue.get(rec.serviceId);
    if (def) connections.push(consumerConnectionView(def, rec));
  }
  return { ...toConsumer(row, records.map((rec) => rec.serviceId)), connections };
}

export async function createConsumer(ctx: VaultContext, applicationId: string, consumerId: string, metadata?: ConsumerMetadata) {
  if (!consumerId.trim()) throw badRequest('consumer_id must not be empty', { missing: [{ consumer_id: 'required' }] });
  await consumers.upsertConsumer(ctx.db, applicationId, consumerId, metadata);
  return getConsumer(ctx, applicationId, consumerId);
}

export async function updateConsumer(ctx: VaultContext, applicationId: string, consumerId: string, metadata: ConsumerMetadata | undefined) {
  const row = await findConsumer(ctx, applicationId, consumerId);
  if (metadata) await consumers.upsertConsumer(ctx.db, applicationId, consumerId, { ...consumers.consumerMetadata(row.metadata), ...metadata });
  return getConsumer(ctx, applicationId, consumerId);
}

/** Deletes the consumer with every connection (credentials included); each connection emits `deleted`. */
export async function deleteConsumer(ctx: VaultContext, applicationId: string, consumerId: string) {
  await findConsumer(ctx, applicationId, consumerId);
  await consumers.deleteConsumer(ctx.db, ctx.changes, applicationId, consumerId, async (trx, connections) => {
    // Connections of a connector no longer in the catalogue have no event to emit; they go with the rest.
    const events = [];
    for (const row of connections) {
      const def = ctx.catalogue.get(row.service_id);
      if (def) events.push(deletedEvent(def, await ctx.connections.decode(row, trx)));
    }
    return events;
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
  const counts = { unify: 0, proxy: 0, vault: 0 };
  for (const r of await countRequestsByUnifiedApi(ctx.db, applicationId, consumerId, from, to)) {
    const bucket = r.unifiedApi === 'vault' ? 'vault' : r.unifiedApi === 'proxy' ? 'proxy' : 'unify';
    counts[bucket] += r.count;
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

