// Request logs: written in batches off the request path, read back with Apideck's filters and cursor paging.
import type { Executor } from '../store/database.js';
import { appendRequestLogs, findRequestLogs, PATH_MATCH_MODES, type ConsumerRequestCounts, type PathMatchMode, type RequestLogQuery, type RequestLogRow } from '../store/request-logs.js';
import { badRequest } from './errors.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

export type LogEntry = RequestLogRow;

// Each flush is one commit, and with synchronous=FULL each commit waits for an fsync on the event loop: at most one
// a second under load. A crash loses at most that second of request logs; reads (`GET /vault/logs`) flush first.
const FLUSH_DELAY_MS = 1_000;
const MAX_BUFFER = 2_000;

/** Buffers log rows and writes them in one transaction together with the consumers' request counters. */
export class LogWriter {
  private buffer: LogEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly db: Executor, private readonly onError: (error: unknown) => void) {}

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
    const counters = new Map<string, ConsumerRequestCounts>();
    for (const e of batch) {
      if (!e.consumer_id) continue;
      const key = `${e.application_id}\u0000${e.consumer_id}`;
      const c = counters.get(key) ?? { applicationId: e.application_id, consumerId: e.consumer_id, unify: 0, proxy: 0, vault: 0 };
      c[e.unified_api === 'vault' ? 'vault' : e.unified_api === 'proxy' ? 'proxy' : 'unify'] += 1;
      counters.set(key, c);
    }
    await appendRequestLogs(this.db, batch, [...counters.values()]);
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

const isPathMatchMode = (mode: string): mode is PathMatchMode => (PATH_MATCH_MODES as readonly string[]).includes(mode);

/** Apideck's log filters, checked, as a repository query (the checks keep Apideck's order of error messages). */
function logQuery(f: LogsFilter, before: string | null, limit: number): RequestLogQuery {
  const query: RequestLogQuery = { limit };
  if (f.connector_id) {
    const [api, service] = f.connector_id.split('+');
    if (!api || !service) throw badRequest('filter[connector_id] must look like <unified_api>+<service_id>');
    query.serviceId = service;
  }
  if (f.path) {
    const mode = (f.path_match_mode ?? 'CONTAINS').toUpperCase();
    if (!isPathMatchMode(mode)) throw badRequest('filter[path_match_mode] must be one of CONTAINS, STARTS_WITH, ENDS_WITH, EXACT');
    query.path = { value: f.path, match: mode };
  }
  const methods = [...(f.http_methods ?? []), ...(f.http_method ? [f.http_method] : [])].map((m) => m.toUpperCase());
  if (methods.length) query.httpMethods = methods;
  if (f.start_date) query.from = parseDate(f.start_date, 'start_date');
  if (f.end_date) query.to = parseDate(f.end_date, 'end_date');
  if (query.from !== undefined && query.to !== undefined && query.to < query.from) {
    throw badRequest('filter[end_date] must not be before filter[start_date]');
  }
  const codes = [...(f.status_codes ?? []).map((c) => statusCode(c, 'status_codes')), ...(f.status_code != null ? [statusCode(f.status_code, 'status_code')] : [])];
  if ((f.status_codes ?? []).length > 50) throw badRequest('filter[status_codes] takes at most 50 codes');
  if (codes.length) query.statusCodes = codes;
  const excluded = (f.exclude_unified_apis ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (excluded.length) query.excludedUnifiedApis = excluded;
  if (before !== null) query.beforeId = before;
  return query;
}

export async function listLogs(
  db: Executor,
  scope: { applicationId: string; consumerId: string },
  options: { filter?: LogsFilter; cursor?: string; limit: number },
): Promise<Page<LogView>> {
  const before = decodeCursor(options.cursor);
  // One row more than the page tells whether there is a next one.
  const rows = await findRequestLogs(db, scope.applicationId, scope.consumerId, logQuery(options.filter ?? {}, before, options.limit + 1));
  const page = rows.slice(0, options.limit);
  return { data: page.map(toView), next: rows.length > options.limit ? encodeCursor(page[page.length - 1].id) : null };
}
