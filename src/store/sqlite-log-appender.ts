// SQLite request logs appended on a worker thread with its own connection, so the one write every call makes costs the
// event loop a message instead of an insert.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ConsumerRequestCounts, RequestLogRow } from './request-logs.js';

/**
 * The worker, as plain CommonJS source: it runs the same way under the built server and under the test runner (which
 * loads TypeScript sources that a worker could not). synchronous=NORMAL: a log batch is committed without waiting for
 * the disk (it may go with a power failure; tokens are written by the main connection, whose next commit syncs the
 * WAL these frames are in too). The busy timeout waits out a unit of work holding the write lock.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.file);
database.pragma('busy_timeout = 5000');
database.pragma('synchronous = NORMAL');
let append = null;
function prepare() {
  const columns = workerData.columns;
  const insert = database.prepare('insert into request_logs (' + columns.join(', ') + ') values (' + columns.map((c) => '@' + c).join(', ') + ')');
  const count = database.prepare('update consumers set request_count_unify = request_count_unify + ?, request_count_proxy = request_count_proxy + ?, '
    + 'request_count_vault = request_count_vault + ?, request_count_updated = ? where application_id = ? and consumer_id = ?');
  return database.transaction((rows, counts, now) => {
    for (const row of rows) insert.run(row);
    for (const c of counts) count.run(c.unify, c.proxy, c.vault, now, c.applicationId, c.consumerId);
  });
}
parentPort.on('message', ({ id, rows, counts, now }) => {
  try {
    append ??= prepare();
    append(rows, counts, now);
    parentPort.postMessage({ id });
  } catch (error) {
    parentPort.postMessage({ id, error: { code: typeof error?.code === 'string' ? error.code : undefined, message: String(error?.message ?? error) } });
  }
});
`;

interface Pending {
  worker: Worker;
  settled: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** A failure the worker reported, with SQLite's code kept so callers can tell "busy" from "bad row". */
class AppendError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export class SqliteLogAppender {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    private readonly file: string,
    private readonly columns: readonly string[],
  ) {}

  /** Appends the rows and adds the counts in one transaction on the worker's connection. */
  append(rows: RequestLogRow[], counts: ConsumerRequestCounts[], now: number): Promise<void> {
    const worker = this.started();
    const id = this.nextId++;
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const settled = new Promise<void>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    this.pending.set(id, { worker, settled, resolve, reject });
    worker.postMessage({ id, rows, counts, now });
    return settled;
  }

  /** Waits for the appends already posted (the worker answers them in order), then stops the worker. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await Promise.allSettled([...this.pending.values()].map((p) => p.settled));
    await worker?.terminate();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, driver, columns: this.columns } });
    // An idle worker must not keep the process alive; appends in flight are awaited by the log writer.
    worker.unref();
    worker.on('message', ({ id, error }: { id: number; error?: { code?: string; message: string } }) => {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      if (!waiting) return;
      if (error) waiting.reject(new AppendError(error.message, error.code));
      else waiting.resolve();
    });
    // The worker died (out of memory, a driver crash): its waiting appends fail as "unavailable" (the log writer keeps
    // them to retry) and the next append starts a new worker.
    worker.on('error', (error) => this.failAll(worker, new AppendError(error.message, 'SQLITE_IOERR')));
    worker.on('exit', () => this.failAll(worker, new AppendError('the request-log writer stopped', 'SQLITE_IOERR')));
    this.worker = worker;
    return worker;
  }

  private failAll(worker: Worker, error: AppendError): void {
    if (this.worker === worker) this.worker = null;
    for (const [id, waiting] of this.pending) {
      if (waiting.worker !== worker) continue;
      this.pending.delete(id);
      waiting.reject(error);
    }
  }
}
