// Request logs are written in batches: a log row the database would refuse (a NUL, a lone surrogate, an id too long
// for the index) is stored safely, and a row it refuses anyway never costs the rest of its batch their logs or their
// consumers' request counts. Against a real SQLite file and a real PostgreSQL schema.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRequestLogs } from '../../src/store/request-logs.js';
import type { Database } from '../../src/store/schema.js';
import { uuidv7 } from '../../src/vault/ids.js';
import { LogWriter, type LogEntry } from '../../src/vault/logs.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';

function recordingLog() {
  const lines: Array<{ level: 'warn' | 'info'; obj: any; msg: string }> = [];
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
  };
}

function entry(applicationId: string, consumerId: string, fields: Partial<LogEntry> = {}): LogEntry {
  const now = Date.now();
  return {
    id: uuidv7(now),
    application_id: applicationId,
    consumer_id: consumerId,
    unified_api: 'vault',
    service_id: 'vault',
    service_name: 'Coffer Vault',
    operation_id: 'connectionsAll',
    operation_name: 'Get all connections',
    http_method: 'GET',
    path: '/vault/connections',
    base_url: '127.0.0.1',
    status_code: 200,
    success: 1,
    duration: 0,
    execution: 1,
    latency: 1,
    error_message: null,
    source_ip: '127.0.0.1',
    sandbox: 0,
    created_at: now,
    ...fields,
  };
}

describe.each(backends)('request logs (%s)', (backend) => {
  let coffer: TestCoffer;
  const logsOf = async (consumer: string) => (await okJson(await fetch(`${coffer.url}/vault/logs?limit=200`, { headers: coffer.headers(consumer) }))).data as any[];
  const countsOf = async (consumer: string) => (await okJson(await fetch(`${coffer.url}/vault/consumers/${consumer}`, { headers: coffer.headers() }))).data.request_counts;

  beforeAll(async () => {
    coffer = await startCoffer(backend);
  });
  afterAll(async () => {
    await coffer?.close();
  });

  it('a request whose log entry holds unstorable values costs no other consumer its logs or request counts', async () => {
    const consumers = ['logs-alpha', 'logs-beta', 'logs-gamma'];
    for (const consumer_id of consumers) {
      await okJson(await fetch(`${coffer.url}/vault/consumers`, { method: 'POST', headers: { ...coffer.headers(), 'content-type': 'application/json' }, body: JSON.stringify({ consumer_id }) }), 200);
    }
    const before = await Promise.all(consumers.map(countsOf));

    // All within one flush window: the writer makes one batch of them.
    const longId = 'x'.repeat(4_500);
    await Promise.all([
      ...consumers.map((c) => fetch(`${coffer.url}/vault/connections`, { headers: coffer.headers(c) })),
      // A NUL in a consumer id from the path, and an id longer than an index row may be: the API may refuse either,
      // but the refused request is still logged.
      fetch(`${coffer.url}/vault/consumers/nul%00id`, { headers: coffer.headers() }),
      fetch(`${coffer.url}/vault/connections`, { headers: coffer.headers(longId) }),
      ...consumers.map((c) => fetch(`${coffer.url}/vault/connections`, { headers: coffer.headers(c) })),
    ]);

    for (const [i, consumer] of consumers.entries()) {
      // Two listings, and the read of the counts before them (also a request of this consumer).
      expect((await countsOf(consumer)).vault, consumer).toBe(before[i].vault + 3);
      const logs = await logsOf(consumer);
      expect(logs.filter((l) => l.path === '/vault/connections' && l.http_method === 'GET'), consumer).toHaveLength(2);
    }
    // The odd entries are stored too, made storable: NUL replaced, the id cut to its bound.
    // (A header cannot carry U+FFFD or "…": these are read from the store.)
    const nul = await findRequestLogs(coffer.runtime.store.db, coffer.appId, 'nul\ufffdid', { limit: 10 });
    expect(nul.map((l) => l.path)).toEqual(['/vault/consumers/nul%00id']);
    const long = await findRequestLogs(coffer.runtime.store.db, coffer.appId, `${'x'.repeat(511)}…`, { limit: 10 });
    expect(long).toHaveLength(1);
    expect(long[0].consumer_id).toHaveLength(512);
  });

  it('NUL, lone surrogates and over-long values in any text column are stored, replaced and cut', async () => {
    const log = recordingLog();
    const writer = new LogWriter(coffer.runtime.store.db, log);
    const consumer = 'logs-odd-text';
    writer.record(
      entry(coffer.appId, consumer, {
        path: `/a\u0000b/\ud800c/d\udc00/${'p'.repeat(5_000)}`,
        error_message: 'bad \ud83d',
        service_name: 'emoji 😀 kept',
        operation_name: 'o'.repeat(1_000),
      }),
    );
    await writer.close();
    expect(log.lines).toEqual([]);
    const [row] = await logsOf(consumer);
    expect(row.path.startsWith('/a\ufffdb/\ufffdc/d\ufffd/ppp')).toBe(true);
    expect(row.path).toHaveLength(2_048);
    expect(row.path.endsWith('…')).toBe(true);
    expect(row.error_message).toBe('bad \ufffd');
    expect(row.service.name).toBe('emoji 😀 kept');
    expect(row.operation.name).toHaveLength(256);
  });

  it('reads arriving together share writes, and each finds every entry recorded before it', async () => {
    const db = coffer.runtime.store.db;
    const writer = new LogWriter(db, recordingLog(), { flushDelayMs: 60_000 });
    const consumer = 'read-burst';
    const reads: Array<Promise<number>> = [];
    for (let i = 0; i < 20; i++) {
      writer.record(entry(coffer.appId, consumer, { path: `/${i}` }));
      // Read i needs entries 0…i: it counts what the database holds once its flush resolved.
      reads.push(writer.flushForRead().then(async () => (await findRequestLogs(db, coffer.appId, consumer, { limit: 100 })).length));
    }
    const seen = await Promise.all(reads);
    seen.forEach((count, i) => expect(count, `read ${i}`).toBeGreaterThanOrEqual(i + 1));
    expect(writer.pending).toBe(0);
    expect(seen.at(-1)).toBe(20);
    await writer.close();
  });

  it('a row the database refuses anyway is dropped alone and reported; the rest of its batch and their counts are written', async () => {
    const consumers = ['logs-split-a', 'logs-split-b'];
    for (const consumer_id of consumers) {
      await okJson(await fetch(`${coffer.url}/vault/consumers`, { method: 'POST', headers: { ...coffer.headers(), 'content-type': 'application/json' }, body: JSON.stringify({ consumer_id }) }), 200);
    }
    const log = recordingLog();
    const writer = new LogWriter(coffer.runtime.store.db, log);
    // Sanitising makes every value storable, so the refused row is refused for another reason: its id is taken.
    const taken = entry(coffer.appId, consumers[0], { path: '/first' });
    writer.record(taken);
    await writer.flush();

    const batch = [
      ...Array.from({ length: 7 }, (_, i) => entry(coffer.appId, consumers[i % 2], { path: `/before/${i}` })),
      entry(coffer.appId, consumers[1], { id: taken.id, path: '/duplicate' }),
      ...Array.from({ length: 8 }, (_, i) => entry(coffer.appId, consumers[i % 2], { path: `/after/${i}` })),
    ];
    for (const row of batch) writer.record(row);
    await writer.close();

    // Counts first: reading logs is itself a request of the consumer.
    expect((await countsOf(consumers[0])).vault).toBe(9);
    expect((await countsOf(consumers[1])).vault).toBe(7);
    const paths = async (consumer: string) => (await logsOf(consumer)).filter((l) => l.operation.id === 'connectionsAll').map((l) => l.path).sort();
    expect(await paths(consumers[0])).toEqual(['/after/0', '/after/2', '/after/4', '/after/6', '/before/0', '/before/2', '/before/4', '/before/6', '/first']);
    expect(await paths(consumers[1])).toEqual(['/after/1', '/after/3', '/after/5', '/after/7', '/before/1', '/before/3', '/before/5']);
    expect(log.lines).toEqual([{ level: 'warn', obj: expect.objectContaining({ log_id: taken.id, application_id: coffer.appId }), msg: 'request log entry dropped: the database refused it' }]);
    expect(JSON.stringify(log.lines)).not.toContain('/duplicate');
  });
});

describe('request logs while the database is unavailable', () => {
  it('wait in memory up to the buffer bound, dropping the oldest, and are reported', async () => {
    // A port nothing listens on: every connection is refused, as when PostgreSQL is down.
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 1_000 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const log = recordingLog();
    const writer = new LogWriter(db, log, { maxBuffer: 10, retryDelayMs: 60_000 });
    try {
      for (let i = 0; i < 6; i++) writer.record(entry('app', 'down', { path: `/${i}` }));
      await writer.flush();
      expect(writer.pending).toBe(6);
      expect(log.lines.map((l) => l.msg)).toEqual(['database unavailable: request logs wait in memory']);
      for (let i = 6; i < 14; i++) writer.record(entry('app', 'down', { path: `/${i}` }));
      expect(writer.pending).toBe(10);
      await writer.close();
      expect(log.lines.slice(1)).toEqual([
        { level: 'warn', obj: { dropped: 4, since_unavailable: 4 }, msg: 'request logs dropped: buffer full while the database is unavailable' },
        { level: 'warn', obj: { dropped: 10 }, msg: 'request logs lost at shutdown: the database was unavailable' },
      ]);
    } finally {
      await db.destroy();
    }
  });
});
