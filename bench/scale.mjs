// The scale scenario (`BENCH_ONLY=scale npm run bench`, or `scale` in the BENCH_ONLY list): per backend, a Coffer
// seeded with BENCH_SCALE_SMALL (1 000) and then BENCH_SCALE_LARGE (1 000 000) connections — 10 per consumer, every
// secret sealed for real (bench/seed-scale.mjs) — measured on
//   - a random connection read: GET /vault/connections/{api}/{service} for a random consumer and service;
//   - a consumer's connection list: GET /vault/connections for a random consumer;
//   - a consumers page: GET /vault/consumers?limit=20 at a random cursor;
// then the server's RSS after those runs and, on SQLite, its cold start (`coffer serve`) to /ready on the large store.
// Goals (issue 14): at the large size, read p99 ≤ 1.5 × the small run's, list pages p99 ≤ 10 ms, RSS ≤ 200 MB, cold
// start ≤ 1 s.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/child-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SMALL = Number(process.env.BENCH_SCALE_SMALL ?? 1_000);
const LARGE = Number(process.env.BENCH_SCALE_LARGE ?? 1_000_000);
export const SCALE_GOALS = { readP99Ratio: 1.5, listP99Ms: 10, rssMb: 200, coldStartMs: 1000 };

const pick = (n) => Math.floor(Math.random() * n);

function rssMb(pid) {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) / 1024;
  } catch {
    return null;
  }
}


/** Milliseconds from spawning `coffer serve` on the seeded data dir to the first 200 from /ready. */
async function coldStart(dataDir, masterKey) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(here, '..', 'dist', 'cli.js'), 'serve'], {
    env: { ...process.env, COFFER_DATA_DIR: dataDir, COFFER_MASTER_KEY: masterKey, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATABASE_URL: '' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`coffer serve exited with ${child.exitCode} before /ready`);
      if (performance.now() - started > 60_000) throw new Error('coffer serve was not ready within 60 s');
      const ready = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status === 200, () => false);
      if (ready) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

/** Measures one seeded size on one backend; returns the table's rows and the server's RSS / cold start. */
async function measureSize(backend, size, postgresUrl, { startChild, stopChild, measure }) {
  const keep = backend === 'sqlite' && size === LARGE;
  process.stderr.write(`[bench] scale (${backend}): seeding ${size.toLocaleString('en')} connections…\n`);
  const { child, info } = await startChild(`coffer-${backend}-scale-${size}`, 'serve-coffer.mjs', {
    BENCH_BACKEND: backend,
    ...(postgresUrl ? { BENCH_PG_URL: postgresUrl } : {}),
    BENCH_SEED_CONNECTIONS: String(size),
    BENCH_KEEP_DATA: keep ? '1' : '0',
  }, { readyTimeoutMs: 30 * 60_000 });
  const { seeded } = info;
  process.stderr.write(`[bench] scale (${backend}): seeded ${seeded.connections.toLocaleString('en')} connections in ${(seeded.seedMs / 1000).toFixed(1)} s\n`);
  const appHeaders = { authorization: `Bearer ${info.apiKey}`, 'x-apideck-app-id': info.appId };
  const consumer = () => `scale-${pick(seeded.consumers)}`;
  const read = [{ method: 'GET', setupRequest: (req) => {
    const service = seeded.services[pick(seeded.services.length)];
    return { ...req, path: `/vault/connections/${service.unifiedApi}/${service.serviceId}`, headers: { ...appHeaders, 'x-apideck-consumer-id': consumer() } };
  } }];
  const list = [{ method: 'GET', setupRequest: (req) => ({ ...req, path: '/vault/connections', headers: { ...appHeaders, 'x-apideck-consumer-id': consumer() } }) }];
  // A cursor (vault/pagination.ts: base64url JSON of the last id seen) at a random seeded consumer: pages from anywhere.
  const cursorAt = (consumerId) => Buffer.from(JSON.stringify({ k: consumerId })).toString('base64url');
  const page = [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/vault/consumers?limit=20&cursor=${cursorAt(consumer())}`, headers: appHeaders }) }];
  const label = `${size.toLocaleString('en')} connections`;
  const rows = [];
  let rss = null;
  try {
    rows.push({ size, kind: 'read', ...(await measure(`scale: random connection read (${label})`, backend, info.url, appHeaders, info.pid, read)) });
    rows.push({ size, kind: 'list', ...(await measure(`scale: GET /vault/connections (${label})`, backend, info.url, appHeaders, info.pid, list)) });
    rows.push({ size, kind: 'list', ...(await measure(`scale: GET /vault/consumers page (${label})`, backend, info.url, appHeaders, info.pid, page)) });
  } finally {
    rss = rssMb(info.pid);
    await stopChild(child);
  }
  let coldStartMs = null;
  if (keep) {
    try {
      coldStartMs = await coldStart(info.dataDir, info.masterKey);
    } finally {
      fs.rmSync(info.dataDir, { recursive: true, force: true });
    }
  }
  return { rows, rssMb: rss, coldStartMs, seedMs: seeded.seedMs };
}

/** Both sizes on each backend; `postgresUrl` null skips PostgreSQL. */
export async function runScaleBench(postgresUrl, deps) {
  const results = [];
  for (const backend of postgresUrl ? ['sqlite', 'postgres'] : ['sqlite']) {
    const small = await measureSize(backend, SMALL, backend === 'postgres' ? postgresUrl : null, deps);
    const large = await measureSize(backend, LARGE, backend === 'postgres' ? postgresUrl : null, deps);
    results.push({ backend, small, large });
  }
  return results;
}

export function printScaleTable(results) {
  const header = ['scenario', 'backend', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req'];
  const lines = [];
  for (const { small, large } of results) for (const row of [...small.rows, ...large.rows]) {
    lines.push([row.scenario, row.backend, row.reqPerSecMean.toFixed(0), String(row.latencyP50Ms), String(row.latencyP99Ms), row.cpuMicrosPerRequest?.toFixed(1) ?? '-']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(format(line));
  console.log('');
  console.log(`Goals at ${LARGE.toLocaleString('en')} connections: read p99 ≤ ${SCALE_GOALS.readP99Ratio} × the ${SMALL.toLocaleString('en')} run, list pages p99 ≤ ${SCALE_GOALS.listP99Ms} ms, RSS ≤ ${SCALE_GOALS.rssMb} MB, cold start to /ready ≤ ${SCALE_GOALS.coldStartMs} ms (SQLite)`);
  const verdicts = [];
  for (const { backend, small, large } of results) {
    const smallRead = small.rows.find((r) => r.kind === 'read');
    const largeRead = large.rows.find((r) => r.kind === 'read');
    const readRatio = largeRead.latencyP99Ms / Math.max(1, smallRead.latencyP99Ms);
    const listP99 = Math.max(...large.rows.filter((r) => r.kind === 'list').map((r) => r.latencyP99Ms));
    const checks = [
      [`read p99 ${largeRead.latencyP99Ms} ms vs ${smallRead.latencyP99Ms} ms (× ${readRatio.toFixed(2)})`, readRatio <= SCALE_GOALS.readP99Ratio],
      [`list pages p99 ${listP99} ms (the slower)`, listP99 <= SCALE_GOALS.listP99Ms],
      [`RSS ${large.rssMb?.toFixed(0) ?? '?'} MB`, large.rssMb !== null && large.rssMb <= SCALE_GOALS.rssMb],
      ...(large.coldStartMs === null ? [] : [[`cold start ${large.coldStartMs.toFixed(0)} ms`, large.coldStartMs <= SCALE_GOALS.coldStartMs]]),
    ];
    console.log(`  ${backend.padEnd(8)} seeded ${LARGE.toLocaleString('en')} in ${(large.seedMs / 1000).toFixed(0)} s; ` + checks.map(([text, ok]) => `${text} ${ok ? 'MET' : 'NOT MET'}`).join('; '));
    verdicts.push({ backend, readP99Ratio: readRatio, listP99Ms: listP99, rssMb: large.rssMb, coldStartMs: large.coldStartMs, seedMs: large.seedMs, met: checks.every(([, ok]) => ok) });
  }
  return verdicts;
}
