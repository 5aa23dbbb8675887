// Request logs: written in batches off the request path, read back with Apideck's filters and cursor paging.
import { isStoreUnavailable, type Executor } from '../store/database.js';
import { appendRequestLogs, findRequestLogs, PATH_MATCH_MODES, type ConsumerRequestCounts, type PathMatchMode, type RequestLogQuery, type RequestLogRow } from '../store/request-logs.js';
import { badRequest } from './errors.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

export type LogEntry = RequestLogRow;

// Each flush is one commit of hand-written statements (store/request-logs.ts; on SQLite without an fsync, on the event
// loop): small and frequent batches keep any one of them from holding up requests. A crash loses at most the last
// FLUSH_DELAY_MS of request logs; reads (`GET /vault/logs`) flush first.
const FLUSH_DELAY_MS = 250;
/** Entries that make a batch worth writing at once. */
const BATCH_SIZE = 256;
/** While the database cannot take writes, the buffer is tried again this often. */
const RETRY_DELAY_MS = 5_000;
const MAX_BUFFER = 2_000;

/** Where the writer says what it could not write (pino's logger fits). Never given a row's path or values. */
export interface LogWriterLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface LogWriterOptions {
  /** Entries kept in memory at most; while the database is unavailable, the oldest beyond it are dropped. */
  maxBuffer?: number;
  flushDelayMs?: number;
  retryDelayMs?: number;
}

/**
 * Buffers log rows and writes them in one transaction together with the consumers' request counters. A batch the
 * database refuses is split in halves until only the rows it refuses are left, and those are dropped (and reported):
 * one bad row never costs the other consumers their logs and counts. A batch that fails because the database cannot
 * take writes at all goes back to the buffer and is tried again every RETRY_DELAY_MS, the buffer capped at MAX_BUFFER.
 */
export class LogWriter {
  private buffer: LogEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** A read's flush waiting for the write in flight: later reads share it instead of queueing a write each. */
  private queuedForRead: Promise<void> | null = null;
  /** Set while the database is unavailable: no flush on a full buffer, only the retry timer. */
  private unavailable = false;
  private droppedWhileUnavailable = 0;
  private reportedDrops = 0;
  private closed = false;
  private readonly maxBuffer: number;
  private readonly flushDelayMs: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly db: Executor,
    private readonly log: LogWriterLog,
    options: LogWriterOptions = {},
  ) {
    this.maxBuffer = options.maxBuffer ?? MAX_BUFFER;
    this.flushDelayMs = options.flushDelayMs ?? FLUSH_DELAY_MS;
    this.retryDelayMs = options.retryDelayMs ?? RETRY_DELAY_MS;
  }

  /** Entries recorded and not yet in the database. */
  get pending(): number {
    return this.buffer.length;
  }

  record(entry: LogEntry): void {
    if (this.buffer.length >= this.maxBuffer) {
      // Only while the database is unavailable (otherwise a full buffer is being written): the oldest entry goes.
      this.buffer.shift();
      this.droppedWhileUnavailable += 1;
    }
    this.buffer.push(entry);
    if (!this.unavailable && this.buffer.length >= Math.min(BATCH_SIZE, this.maxBuffer)) void this.flush();
    else this.schedule();
  }

  /** Resolves once every entry recorded before the call is in the database, or back in the buffer if it is unavailable. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(() => (batch.length ? this.write(batch) : undefined)).catch((error: unknown) => {
      // Not expected (write reports its own failures), but a rejected chain would fail every later flush.
      this.log.warn({ err: errorSummary(error), dropped: batch.length }, 'request logs dropped: could not be written');
    });
    return this.flushing;
  }

  /**
   * For reads of logs and request counts: resolves once every entry recorded before the call is in the database (or
   * back in the buffer if it is unavailable). Reads arriving while a write is in flight share the one write that
   * follows it, which takes everything recorded until it starts: a burst of reads costs a transaction or two, not one
   * each.
   */
  flushForRead(): Promise<void> {
    if (this.queuedForRead) return this.queuedForRead;
    const queued = this.flushing.then(() => {
      this.queuedForRead = null;
      return this.flush();
    });
    this.queuedForRead = queued;
    return queued;
  }

  /** Writes what is buffered, once; what the database could not take then is reported lost. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length) this.log.warn({ dropped: this.buffer.length }, 'request logs lost at shutdown: the database was unavailable');
    this.buffer = [];
  }

  private schedule(): void {
    if (this.timer || this.closed || this.buffer.length === 0) return;
    this.timer = setTimeout(() => void this.flush(), this.unavailable ? this.retryDelayMs : this.flushDelayMs);
  }

  private async write(batch: LogEntry[]): Promise<void> {
    const { retry, error } = await this.writeSplitting(batch);
    if (retry.length === 0) {
      if (this.unavailable) this.log.info({ dropped: this.droppedWhileUnavailable }, 'request logs are written again');
      this.unavailable = false;
      this.droppedWhileUnavailable = 0;
      this.reportedDrops = 0;
      return;
    }
    if (!this.unavailable) this.log.warn({ err: errorSummary(error), pending: retry.length }, 'database unavailable: request logs wait in memory');
    this.unavailable = true;
    // Back in front of what arrived meanwhile, in order; the oldest go when over the cap.
    const merged = [...retry, ...this.buffer];
    const over = Math.max(0, merged.length - this.maxBuffer);
    this.droppedWhileUnavailable += over;
    this.buffer = merged.slice(over);
    // Dropped here and by `record` since the last report: one warning a retry, not one an entry.
    const dropped = this.droppedWhileUnavailable - this.reportedDrops;
    this.reportedDrops = this.droppedWhileUnavailable;
    if (dropped) this.log.warn({ dropped, since_unavailable: this.droppedWhileUnavailable }, 'request logs dropped: buffer full while the database is unavailable');
    this.schedule();
  }

  /**
   * Writes the rows in one transaction; if the database refuses it, writes each half the same way, so only the rows
   * it refuses alone are dropped (about 2·log2(n) transactions for one bad row, not n). Returns the rows to write again
   * later, when the database was unavailable.
   */
  private async writeSplitting(rows: LogEntry[]): Promise<{ retry: LogEntry[]; error?: unknown }> {
    try {
      await appendRequestLogs(this.db, rows, requestCounts(rows));
      return { retry: [] };
    } catch (error) {
      if (isStoreUnavailable(error)) return { retry: rows, error };
      if (rows.length === 1) {
        const [row] = rows;
        // Ids and the error only: a row's path or error text may carry what a caller sent.
        this.log.warn({ err: errorSummary(error), log_id: row.id, application_id: row.application_id }, 'request log entry dropped: the database refused it');
        return { retry: [] };
      }
      const middle = Math.ceil(rows.length / 2);
      const first = await this.writeSplitting(rows.slice(0, middle));
      // The database went away meanwhile: the second half waits as well, untried.
      if (first.retry.length) return { retry: [...first.retry, ...rows.slice(middle)], error: first.error };
      return this.writeSplitting(rows.slice(middle));
    }
  }
}

/** What each consumer's request counters gain from these rows. */
function requestCounts(rows: LogEntry[]): ConsumerRequestCounts[] {
  const counters = new Map<string, ConsumerRequestCounts>();
  for (const e of rows) {
    if (!e.consumer_id) continue;
    const key = `${e.application_id}\u0000${e.consumer_id}`;
    const c = counters.get(key) ?? { applicationId: e.application_id, consumerId: e.consumer_id, unify: 0, proxy: 0, vault: 0 };
    c[e.unified_api === 'vault' ? 'vault' : e.unified_api === 'proxy' ? 'proxy' : 'unify'] += 1;
    counters.set(key, c);
  }
  return [...counters.values()];
}

/** The database's error code and message; never its `detail`, which quotes the values of the row. */
function errorSummary(error: unknown): { code?: string; message: string } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), message: typeof message === 'string' ? message.slice(0, 300) : String(error).slice(0, 300) };
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
