// Request logs: written in batches off the request path, read back with Apideck's filters and cursor paging.
import { sql, type Kysely } from 'kysely';
import type { Database, RequestLogsTable } from '../store/schema.js';
import { badRequest } from './errors.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

export type LogEntry = RequestLogsTable;

// Each flush is one commit, and with synchronous=FULL each commit waits for an fsync on the event loop: at most one
// a second under load. A crash loses at most that second of request logs; reads (`GET /vault/logs`) flush first.
const FLUSH_DELAY_MS = 1_000;
const MAX_BUFFER = 2_000;
const INSERT_CHUNK = 100;

/** Buffers log rows and writes them in one transaction together with the consumers' request counters. */
export class LogWriter {
  private buffer: LogEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly db: Kysely<Database>, private readonly onError: (error: unknown) => void) {}

  record(entry: LogEntry): void {
    this.buffer.push(entry);
    if (this.buffer.length >= MAX_BUFFER) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_DELAY_MS);
  }

  /** Resolves once every entry recorded before the call is in the database. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(() => (batch.length ? this.write(batch).catch(this.onError) : undefined));
    return this.flushing;
  }

  private async write(batch: LogEntry[]): Promise<void> {
    const counters = new Map<string, { app: string; consumer: string; unify: number; proxy: number; vault: number }>();
    for (const e of batch) {
      if (!e.consumer_id) continue;
      const key = `${e.application_id}\u0000${e.consumer_id}`;
      const c = counters.get(key) ?? { app: e.application_id, consumer: e.consumer_id, unify: 0, proxy: 0, vault: 0 };
      c[e.unified_api === 'vault' ? 'vault' : e.unified_api === 'proxy' ? 'proxy' : 'unify'] += 1;
      counters.set(key, c);
    }
    const now = Date.now();
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < batch.length; i += INSERT_CHUNK) {
        await trx.insertInto('request_logs').values(batch.slice(i, i + INSERT_CHUNK)).execute();
      }
      for (const c of counters.values()) {
        await trx
          .updateTable('consumers')
          .set({
            request_count_unify: sql`request_count_unify + ${c.unify}`,
            request_count_proxy: sql`request_count_proxy + ${c.proxy}`,
            request_count_vault: sql`request_count_vault + ${c.vault}`,
            request_count_updated: now,
          })
          .where('application_id', '=', c.app)
          .where('consumer_id', '=', c.consumer)
          .execute();
      }
    });
  }
}

export interface LogsFilter {
  connector_id?: string | null;
  path?: string | null;
  path_match_mode?: string | null;
  http_method?: string | null;
  http_methods?: string[] | null;
  start_date?: string | null;
  end_date?: string | null;
  status_code?: number | null;
  status_codes?: number[] | null;
  exclude_unified_apis?: string | null;
}

export interface LogView {
  id: string;
  parent_id: string | null;
  api_style: string;
  base_url: string;
  child_request: boolean;
  consumer_id: string;
  duration: number;
  error_message: string | null;
  execution: number;
  has_children: boolean;
  http_method: string;
  latency: number;
  operation: { id: string; name: string };
  path: string;
  sandbox: boolean;
  service: { id: string; name: string };
  source_ip: string | null;
  status_code: number;
  success: boolean;
  timestamp: string;
  unified_api: string;
}

function toView(r: LogEntry): LogView {
  return {
    id: r.id,
    parent_id: null,
    api_style: 'REST',
    base_url: r.base_url,
    child_request: false,
    consumer_id: r.consumer_id,
    duration: Number(r.duration),
    error_message: r.error_message,
    execution: Number(r.execution),
    has_children: false,
    http_method: r.http_method,
    latency: Number(r.latency),
    operation: { id: r.operation_id, name: r.operation_name },
    path: r.path,
    sandbox: r.sandbox === 1,
    service: { id: r.service_id, name: r.service_name },
    source_ip: r.source_ip,
    status_code: r.status_code,
    success: r.success === 1,
    timestamp: new Date(Number(r.created_at)).toISOString(),
    unified_api: r.unified_api,
  };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);
const PATH_PATTERNS: Record<string, (p: string) => string> = {
  CONTAINS: (p) => `%${p}%`,
  STARTS_WITH: (p) => `${p}%`,
  ENDS_WITH: (p) => `%${p}`,
};

function parseDate(value: string, name: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw badRequest(`filter[${name}] must be an ISO 8601 date-time`, { invalid: [{ [`filter[${name}]`]: 'date-time' }] });
  return ms;
}

function statusCode(value: unknown, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 100 || n > 599) throw badRequest(`filter[${name}] must hold HTTP status codes (100-599)`);
  return n;
}

export async function listLogs(
  db: Kysely<Database>,
  scope: { applicationId: string; consumerId: string },
  options: { filter?: LogsFilter; cursor?: string; limit: number },
): Promise<Page<LogView>> {
  const f = options.filter ?? {};
  const before = decodeCursor(options.cursor);
  let q = db.selectFrom('request_logs').selectAll().where('application_id', '=', scope.applicationId).where('consumer_id', '=', scope.consumerId);
  if (f.connector_id) {
    const [api, service] = f.connector_id.split('+');
    if (!api || !service) throw badRequest('filter[connector_id] must look like <unified_api>+<service_id>');
    q = q.where('service_id', '=', service);
  }
  if (f.path) {
    const mode = (f.path_match_mode ?? 'CONTAINS').toUpperCase();
    if (mode === 'EXACT') q = q.where('path', '=', f.path);
    else if (PATH_PATTERNS[mode]) q = q.where(sql<boolean>`path like ${PATH_PATTERNS[mode](escapeLike(f.path))} escape '\\'`);
    else throw badRequest('filter[path_match_mode] must be one of CONTAINS, STARTS_WITH, ENDS_WITH, EXACT');
  }
  const methods = [...(f.http_methods ?? []), ...(f.http_method ? [f.http_method] : [])].map((m) => m.toUpperCase());
  if (methods.length) q = q.where('http_method', 'in', methods);
  if (f.start_date) q = q.where('created_at', '>=', parseDate(f.start_date, 'start_date'));
  if (f.end_date) q = q.where('created_at', '<=', parseDate(f.end_date, 'end_date'));
  if (f.start_date && f.end_date && parseDate(f.end_date, 'end_date') < parseDate(f.start_date, 'start_date')) {
    throw badRequest('filter[end_date] must not be before filter[start_date]');
  }
  const codes = [...(f.status_codes ?? []).map((c) => statusCode(c, 'status_codes')), ...(f.status_code != null ? [statusCode(f.status_code, 'status_code')] : [])];
  if ((f.status_codes ?? []).length > 50) throw badRequest('filter[status_codes] takes at most 50 codes');
  if (codes.length) q = q.where('status_code', 'in', codes);
  const excluded = (f.exclude_unified_apis ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (excluded.length) q = q.where('unified_api', 'not in', excluded);
  if (before !== null) q = q.where('id', '<', before);
  const rows = await q.orderBy('id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  return { data: page.map(toView), next: rows.length > options.limit ? encodeCursor(page[page.length - 1].id) : null };
}
