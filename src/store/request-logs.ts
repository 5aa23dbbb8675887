// The request-logs repository: log rows appended in batches with the consumers' request counters, read back newest first.
import { sql } from 'kysely';
import type { Executor } from './database.js';
import type { RequestLogsTable } from './schema.js';
import { escapeLike, like } from './like.js';
import { atomically } from './transaction.js';

export type RequestLogRow = RequestLogsTable;

/** What a batch adds to one consumer's request counters. */
export interface ConsumerRequestCounts {
  applicationId: string;
  consumerId: string;
  unify: number;
  proxy: number;
  vault: number;
}

// Rows per INSERT: keeps each statement well under SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK = 100;

/**
 * Appends the rows and adds the counts to the consumers' counters in one transaction. A batch spans applications:
 * each row and each count carries its own application id.
 */
export async function appendRequestLogs(db: Executor, rows: RequestLogRow[], counts: ConsumerRequestCounts[], now = Date.now()): Promise<void> {
  await atomically(db, async (trx) => {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx.insertInto('request_logs').values(rows.slice(i, i + INSERT_CHUNK)).execute();
    }
    for (const c of counts) {
      await trx
        .updateTable('consumers')
        .set({
          request_count_unify: sql`request_count_unify + ${c.unify}`,
          request_count_proxy: sql`request_count_proxy + ${c.proxy}`,
          request_count_vault: sql`request_count_vault + ${c.vault}`,
          request_count_updated: now,
        })
        .where('application_id', '=', c.applicationId)
        .where('consumer_id', '=', c.consumerId)
        .execute();
    }
  });
}

export const PATH_MATCH_MODES = ['CONTAINS', 'STARTS_WITH', 'ENDS_WITH', 'EXACT'] as const;
export type PathMatchMode = (typeof PATH_MATCH_MODES)[number];

/** Every criterion is optional; the ones given must all hold. */
export interface RequestLogQuery {
  serviceId?: string;
  path?: { value: string; match: PathMatchMode };
  httpMethods?: string[];
  /** Epoch ms, inclusive. */
  from?: number;
  to?: number;
  statusCodes?: number[];
  excludedUnifiedApis?: string[];
  /** Paging: only logs older than this one (ids are UUIDv7, so id order is time order). */
  beforeId?: string;
  limit: number;
}

const LIKE_PATTERNS: Record<Exclude<PathMatchMode, 'EXACT'>, (p: string) => string> = {
  CONTAINS: (p) => `%${p}%`,
  STARTS_WITH: (p) => `${p}%`,
  ENDS_WITH: (p) => `%${p}`,
};

/** The consumer's logs matching the query, newest first. */
export async function findRequestLogs(db: Executor, applicationId: string, consumerId: string, query: RequestLogQuery): Promise<RequestLogRow[]> {
  let q = db.selectFrom('request_logs').selectAll().where('application_id', '=', applicationId).where('consumer_id', '=', consumerId);
  if (query.serviceId) q = q.where('service_id', '=', query.serviceId);
  if (query.path) {
    const { value, match } = query.path;
    q = match === 'EXACT' ? q.where('path', '=', value) : q.where(like('path', LIKE_PATTERNS[match](escapeLike(value))));
  }
  if (query.httpMethods?.length) q = q.where('http_method', 'in', query.httpMethods);
  if (query.from !== undefined) q = q.where('created_at', '>=', query.from);
  if (query.to !== undefined) q = q.where('created_at', '<=', query.to);
  if (query.statusCodes?.length) q = q.where('status_code', 'in', query.statusCodes);
  if (query.excludedUnifiedApis?.length) q = q.where('unified_api', 'not in', query.excludedUnifiedApis);
  if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
  return q.orderBy('id', 'desc').limit(query.limit).execute();
}

/** How many requests the consumer made per unified API between two times (epoch ms, inclusive). */
export async function countRequestsByUnifiedApi(
  db: Executor,
  applicationId: string,
  consumerId: string,
  from: number,
  to: number,
): Promise<Array<{ unifiedApi: string; count: number }>> {
  const rows = await db
    .selectFrom('request_logs')
    .select(['unified_api', (eb) => eb.fn.countAll<number>().as('n')])
    .where('application_id', '=', applicationId)
    .where('consumer_id', '=', consumerId)
    .where('created_at', '>=', from)
    .where('created_at', '<=', to)
    .groupBy('unified_api')
    .execute();
  return rows.map((r) => ({ unifiedApi: r.unified_api, count: Number(r.n) }));
}
