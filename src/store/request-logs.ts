// The request-logs repository: log rows appended in batches with the consumers' request counters, read back newest first.
import { sql } from 'kysely';
import type { Executor } from './database.js';
import type { RequestLogsTable } from './schema.js';
import { escapeLike, like } from './like.js';
import { withStorableCharacters } from './storable-text.js';
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
 * The most UTF-16 code units each text column of a log row keeps (README "Request logs"). `request_logs_owner` indexes
 * (application_id, consumer_id, id): at most 3 UTF-8 bytes a code unit, 128 + 512 + 64 units stay under PostgreSQL's
 * btree limit (2704 bytes an index row) whatever the characters. The other columns are not indexed: their bounds only
 * keep one odd request from storing megabytes.
 */
export const LOG_TEXT_LIMITS = {
  id: 64,
  application_id: 128,
  consumer_id: 512,
  unified_api: 256,
  service_id: 256,
  service_name: 256,
  operation_id: 256,
  operation_name: 256,
  http_method: 256,
  path: 2_048,
  base_url: 2_048,
  error_message: 2_048,
  source_ip: 256,
} as const satisfies Partial<Record<keyof RequestLogRow, number>>;

/** `value` as both backends store it alike: unstorable characters become U+FFFD, and it is cut to `limit` (ending "…"). */
export function storableText(value: string, limit: number): string {
  let text = withStorableCharacters(value);
  // A cut between the halves of a pair would leave a lone surrogate: replace it again after cutting.
  if (text.length > limit) text = withStorableCharacters(`${text.slice(0, limit - 1)}…`);
  return text;
}

/** The row with every text value storable on both backends (see LOG_TEXT_LIMITS). */
export function storableLogRow(row: RequestLogRow): RequestLogRow {
  const out = { ...row };
  for (const [column, limit] of Object.entries(LOG_TEXT_LIMITS) as Array<[keyof typeof LOG_TEXT_LIMITS, number]>) {
    const value = out[column];
    if (typeof value === 'string') (out as Record<string, unknown>)[column] = storableText(value, limit);
  }
  return out;
}

/**
 * Appends the rows and adds the counts to the consumers' counters in one transaction. A batch spans applications:
 * each row and each count carries its own application id. Text values are made storable first (storableLogRow), so
 * a row fails only for a reason no sanitising foresaw, and then the whole batch does: callers split it up.
 */
export async function appendRequestLogs(db: Executor, rows: RequestLogRow[], counts: ConsumerRequestCounts[], now = Date.now()): Promise<void> {
  const storable = rows.map(storableLogRow);
  await atomically(db, async (trx) => {
    for (let i = 0; i < storable.length; i += INSERT_CHUNK) {
      await trx.insertInto('request_logs').values(storable.slice(i, i + INSERT_CHUNK)).execute();
    }
    for (const c of counts) {
      // An id that is not storable as given is no consumer's id (no consumer row holds it): nothing to count.
      if (storableText(c.consumerId, LOG_TEXT_LIMITS.consumer_id) !== c.consumerId) continue;
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
