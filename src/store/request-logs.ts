// The request-logs repository: log rows appended in batches with the consumers' request counters, read back newest first.
import { sql } from 'kysely';
import { sqliteLogAppenderOf, type Executor } from './database.js';
import { REQUEST_LOG_COLUMNS, type RequestLogsTable } from './schema.js';
import { escapeLike, like } from './like.js';
import { unstorableCharacter, withStorableCharacters } from './storable-text.js';
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
  if (value.length <= limit && unstorableCharacter(value) === null) return value;
  let text = withStorableCharacters(value);
  // A cut between the halves of a pair would leave a lone surrogate: replace it again after cutting.
  if (text.length > limit) text = withStorableCharacters(`${text.slice(0, limit - 1)}…`);
  return text;
}

const LIMITED_COLUMNS = Object.entries(LOG_TEXT_LIMITS) as Array<[keyof typeof LOG_TEXT_LIMITS, number]>;

/** The row with every text value storable on both backends (see LOG_TEXT_LIMITS); the row itself when it already is. */
export function storableLogRow(row: RequestLogRow): RequestLogRow {
  let out: RequestLogRow | null = null;
  for (const [column, limit] of LIMITED_COLUMNS) {
    const value = row[column];
    if (typeof value !== 'string') continue;
    const storable = storableText(value, limit);
    if (storable === value) continue;
    out ??= { ...row };
    (out as unknown as Record<string, unknown>)[column] = storable;
  }
  return out ?? row;
}

/** PostgreSQL array types of REQUEST_LOG_COLUMNS, for `unnest`. */
const LOG_COLUMN_TYPES: Record<(typeof REQUEST_LOG_COLUMNS)[number], string> = {
  id: 'text[]', application_id: 'text[]', consumer_id: 'text[]', unified_api: 'text[]', service_id: 'text[]',
  service_name: 'text[]', operation_id: 'text[]', operation_name: 'text[]', http_method: 'text[]', path: 'text[]',
  base_url: 'text[]', status_code: 'int[]', success: 'int[]', duration: 'float8[]', execution: 'float8[]',
  latency: 'float8[]', error_message: 'text[]', source_ip: 'text[]', sandbox: 'int[]', created_at: 'int8[]',
};

/** The counts an id that is storable as given can carry: any other id is no consumer's (no consumer row holds it). */
const countable = (counts: ConsumerRequestCounts[]) => counts.filter((c) => storableText(c.consumerId, LOG_TEXT_LIMITS.consumer_id) === c.consumerId);

/**
 * Appends the rows and adds the counts to the consumers' counters in one transaction. A batch spans applications:
 * each row and each count carries its own application id. Text values are made storable first (storableLogRow), so
 * a row fails only for a reason no sanitising foresaw, and then the whole batch does: callers split it up.
 * Request logs are the one write every call makes, so the statements are written by hand, not built per batch.
 */
export async function appendRequestLogs(db: Executor, rows: RequestLogRow[], counts: ConsumerRequestCounts[], now = Date.now()): Promise<void> {
  const storable = rows.map(storableLogRow);
  const sqlite = db.isTransaction ? undefined : sqliteLogAppenderOf(db);
  if (sqlite) return sqlite.append(storable, countable(counts), now);
  await atomically(db, async (trx) => {
    const columns = REQUEST_LOG_COLUMNS.map((column) => sql`${sql.val(storable.map((row) => row[column]))}::${sql.raw(LOG_COLUMN_TYPES[column])}`);
    await sql`insert into request_logs (${sql.join(REQUEST_LOG_COLUMNS.map((c) => sql.id(c)))}) select * from unnest(${sql.join(columns)})`.execute(trx);
    for (const c of countable(counts)) {
      await sql`update consumers set request_count_unify = request_count_unify + ${c.unify}, request_count_proxy = request_count_proxy + ${c.proxy},
        request_count_vault = request_count_vault + ${c.vault}, request_count_updated = ${now}
        where application_id = ${c.applicationId} and consumer_id = ${c.consumerId}`.execute(trx);
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
