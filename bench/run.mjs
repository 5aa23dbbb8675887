// `npm run bench`: req/s of an authenticated `GET /vault/connections/crm/pipedrive` and `GET …/salesforce/credentials`
// against a bare fastify hello-world.
//
// Every server runs in its own child process (bench/serve-hello.mjs, bench/serve-coffer.mjs) so autocannon, here,
// never shares an event loop with what it measures. Backends: SQLite always; PostgreSQL when BENCH_DATABASE_URL or
// TEST_DATABASE_URL is set (then it must be reachable), else postgres://postgres@127.0.0.1:5432/test if reachable.
//
// Environment:
//   BENCH_DURATION      seconds per measured run (default 10; a 2 s warm-up run precedes each server's first)
//   BENCH_ROUNDS        rounds of the vault scenario (default 3): every server is up at once and each round measures
//                       the baseline and every Coffer scenario in turn, so a ratio compares runs minutes apart at most;
//                       the table shows the median round (and each ratio's range over the rounds)
//   BENCH_CONNECTIONS   concurrent connections (default 50)
//   BENCH_DATABASE_URL  PostgreSQL base URL (falls back to TEST_DATABASE_URL, then the default above)
//   BENCH_PROFILE=1     start the Coffer children with `node --cpu-prof` (profiles in bench/results/profiles/)
//
// Goal: each Coffer scenario reaches 0.5 × the hello-world baseline's req/s on SQLite and 0.35 × on PostgreSQL, with p99 ≤ 5 ms.
//
// Then, with PostgreSQL only, the refresh storm (bench/refresh-storm.mjs): 1 000 concurrent `GET …/credentials` on an
// expired OAuth token, split over 2 Coffer instances on one schema, against a real OAuth provider. It must cause exactly
// 1 refresh at the provider, no errors and 1 distinct token; its own table reports those and p50/p99/max latency.
//
// Then the proxy scenario (bench/proxy.mjs): a loopback provider API measured directly, through nginx `proxy_pass`
// (when nginx is on PATH) and through Coffer's `GET /proxy`; goal: Coffer ≥ 0.6 × nginx req/s.
//
//   BENCH_ONLY          comma list of scenarios to run: vault, proxy, storm, scale (default: vault,proxy,storm)
//
// `scale` (bench/scale.mjs) runs only when named: it seeds 1 000 and then 1 000 000 connections per backend
// (BENCH_SCALE_SMALL / BENCH_SCALE_LARGE) and measures reads and list pages at both sizes, RSS and cold start.
//
// Results go to stdout (tables) and bench/results/latest.json. Exit code 1 if any run saw a non-2xx or an error, or
// the refresh storm FAILED (refreshes ≠ 1, errors, more than one token, or a set-up error).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { stopChild } from './stop-child.mjs';
import { printStormTable, runRefreshStorm, STORM_CALLS, STORM_INSTANCES } from './refresh-storm.mjs';
import { printProxyTable, PROXY_GOAL_RATIO, runProxyBench } from './proxy.mjs';
import { printScaleTable, runScaleBench, SCALE_GOALS } from './scale.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');
const GOAL_RATIO = { sqlite: 0.5, postgres: 0.35 };
const P99_GOAL_MS = 5;
const goalOf = (row) => GOAL_RATIO[row.backend];
const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

function positiveNumber(name, fallback) {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

const DURATION = positiveNumber('BENCH_DURATION', 10);
const WARMUP = 2;
const CONNECTIONS = Math.round(positiveNumber('BENCH_CONNECTIONS', 50));
const ROUNDS = Math.round(positiveNumber('BENCH_ROUNDS', 3));
const PROFILE = process.env.BENCH_PROFILE === '1';
const ONLY = new Set((process.env.BENCH_ONLY ?? 'vault,proxy,storm').split(',').map((s) => s.trim()).filter(Boolean));
for (const name of ONLY) if (!['vault', 'proxy', 'storm', 'scale'].includes(name)) throw new Error(`BENCH_ONLY takes vault, proxy, storm, scale; got "${name}"`);

// ---------------------------------------------------------------------------------------------------------------
// Child processes: started with a piped stdin (they exit when it closes), always stopped, even on errors.

const children = new Set();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

function startChild(name, script, env = {}, { profile = false, readyTimeoutMs = 60_000 } = {}) {
  const execArgv = [];
  if (profile) {
    const dir = path.join(resultsDir, 'profiles');
    fs.mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
  }
  const child = spawn(process.execPath, [...execArgv, path.join(here, script)], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  track(child);
  child.benchName = name;

  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`${name}: no ready line within ${readyTimeoutMs / 1000} s`)), readyTimeoutMs);
    function fail(error) {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      reject(error);
    }
    lines.on('line', (line) => {
      if (ready) {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      let info;
      try {
        info = JSON.parse(line);
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      if (!info.ready) return;
      ready = true;
      clearTimeout(timer);
      resolve({ child, info });
    });
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`)));
  });
}


// Clean-ups a scenario registers while it runs (the refresh storm's schema and temp dirs), run on SIGINT/SIGTERM too.
const cleanups = new Set();

function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

async function stopAll() {
  await Promise.all([...children].map(stopChild));
  await Promise.all([...cleanups].map((fn) => fn()));
}

// Last resort: whatever happens to this process, no child outlives it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.stderr.write(`\n[bench] ${signal}: stopping the servers\n`);
    stopAll().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL selection.

async function reachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return error;
  } finally {
    await client.end().catch(() => {});
  }
}

function redactUrl(raw) {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable URL>';
  }
}

async function choosePostgres() {
  const explicit = process.env.BENCH_DATABASE_URL?.trim() || process.env.TEST_DATABASE_URL?.trim() || null;
  const url = explicit ?? DEFAULT_PG_URL;
  const error = await reachable(url);
  if (!error) return { url, note: `PostgreSQL: ${redactUrl(url)}${explicit ? '' : ' (default)'}` };
  if (explicit) throw new Error(`PostgreSQL at ${redactUrl(url)} (from BENCH_DATABASE_URL/TEST_DATABASE_URL) is not reachable: ${error.message}`);
  return { url: null, note: `PostgreSQL SKIPPED: BENCH_DATABASE_URL/TEST_DATABASE_URL unset and ${redactUrl(url)} unreachable (${error.message})` };
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring.

async function sample(url, headers, check) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const problem = res.status !== 200 ? `status ${res.status}` : check(body);
  if (problem) throw new Error(`sample request to ${url} failed the check (${problem}): ${text.slice(0, 500)}`);
}

/** `requests`: autocannon's request list, for runs whose every request differs (the scale scenario's random ids). */
async function cannon(url, headers, duration, requests = undefined) {
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration, pipelining: 1, ...(requests ? { requests } : {}) });
  return {
    reqPerSecMean: result.requests.average,
    reqPerSecStddev: result.requests.stddev,
    latencyMeanMs: result.latency.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyMaxMs: result.latency.max,
    totalRequests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
  };
}

/**
 * CPU seconds (user + system) the process has used, from /proc (Linux): CPU per request does not depend on what
 * else the machine runs at the time, as req/s does. Null where /proc is not there.
 */
function cpuSeconds(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

const NO_WARMUP = { non2xx: 0, errors: 0, timeouts: 0 };

/** `pid`: the measured server's process, for its CPU time per request. */
async function measure(scenario, backend, url, headers, pid = null, requests = undefined, { warm = true } = {}) {
  let warmup = NO_WARMUP;
  if (warm) {
    process.stderr.write(`[bench] ${scenario} (${backend}): ${WARMUP} s warm-up…\n`);
    warmup = await cannon(url, headers, WARMUP, requests);
  }
  process.stderr.write(`[bench] ${scenario} (${backend}): ${DURATION} s measured run…\n`);
  const cpuBefore = pid === null ? null : cpuSeconds(pid);
  const run = await cannon(url, headers, DURATION, requests);
  const cpuAfter = pid === null ? null : cpuSeconds(pid);
  const cpuMicrosPerRequest = cpuBefore === null || cpuAfter === null || !run.totalRequests ? null : ((cpuAfter - cpuBefore) * 1e6) / run.totalRequests;
  process.stderr.write(`[bench] ${scenario} (${backend}): ${run.reqPerSecMean.toFixed(0)} req/s, p99 ${run.latencyP99Ms} ms, non-2xx ${run.non2xx}\n`);
  return { scenario, backend, url, ...run, cpuMicrosPerRequest, warmup: { non2xx: warmup.non2xx, errors: warmup.errors, timeouts: warmup.timeouts } };
}

/** The hello-world baseline's server and its one target. */
async function helloTargets() {
  const { child, info } = await startChild('hello', 'serve-hello.mjs');
  const url = `${info.url}/`;
  await sample(url, {}, (body) => (body?.hello === 'world' ? null : 'body is not {hello:"world"}'));
  return { child, targets: [{ scenario: 'hello-world baseline (GET /)', backend: 'fastify', url, headers: {}, pid: child.pid }] };
}

/** One Coffer's server and its two targets: a connection read and a credentials read. */
async function cofferTargets(backend, pgUrl) {
  const env = { BENCH_BACKEND: backend, ...(pgUrl ? { BENCH_PG_URL: pgUrl } : {}) };
  const { child, info } = await startChild(`coffer-${backend}`, 'serve-coffer.mjs', env, { profile: PROFILE });
  const url = `${info.url}/vault/connections/crm/pipedrive`;
  const headers = {
    authorization: `Bearer ${info.apiKey}`,
    'x-apideck-app-id': info.appId,
    'x-apideck-consumer-id': info.consumerId,
  };
  await sample(url, headers, (body) => (body?.data?.state === 'callable' ? null : `data.state is ${JSON.stringify(body?.data?.state)}, not "callable"`));
  const credentialsUrl = `${info.url}/vault/connections/crm/salesforce/credentials`;
  await sample(credentialsUrl, headers, (body) => (body?.data?.access_token === 'bench-salesforce-access' ? null : 'data.access_token is not the imported token'));
  return {
    child,
    targets: [
      { scenario: 'GET /vault/connections/crm/pipedrive (API key)', backend, url, headers, pid: child.pid },
      { scenario: 'GET /vault/connections/crm/salesforce/credentials', backend, url: credentialsUrl, headers, pid: child.pid },
    ],
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/**
 * The vault scenario: every server up at once, ROUNDS rounds of the baseline then each Coffer target. A row is its
 * median round; its ratio is the median of the per-round ratios (each against the baseline of the same round).
 */
async function benchVault(pgUrl) {
  const servers = [await helloTargets(), await cofferTargets('sqlite')];
  if (pgUrl) servers.push(await cofferTargets('postgres', pgUrl));
  try {
    const targets = servers.flatMap((s) => s.targets);
    const runs = targets.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`[bench] vault round ${round + 1} of ${ROUNDS}\n`);
      for (const [i, t] of targets.entries()) runs[i].push(await measure(t.scenario, t.backend, t.url, t.headers, t.pid, undefined, { warm: round === 0 }));
    }
    const baseline = runs[0];
    return targets.map((_, i) => {
      const ratios = runs[i].map((run, round) => run.reqPerSecMean / baseline[round].reqPerSecMean);
      const middle = [...runs[i]].sort((a, b) => a.reqPerSecMean - b.reqPerSecMean)[Math.floor((ROUNDS - 1) / 2)];
      return {
        ...middle,
        latencyP99Ms: median(runs[i].map((r) => r.latencyP99Ms)),
        cpuMicrosPerRequest: runs[i].some((r) => r.cpuMicrosPerRequest === null) ? null : median(runs[i].map((r) => r.cpuMicrosPerRequest)),
        non2xx: runs[i].reduce((sum, r) => sum + r.non2xx, 0),
        errors: runs[i].reduce((sum, r) => sum + r.errors, 0),
        timeouts: runs[i].reduce((sum, r) => sum + r.timeouts, 0),
        warmup: runs[i][0].warmup,
        ratio: median(ratios),
        ratioRange: [Math.min(...ratios), Math.max(...ratios)],
        rounds: runs[i].map((r) => ({ reqPerSecMean: r.reqPerSecMean, latencyP99Ms: r.latencyP99Ms, cpuMicrosPerRequest: r.cpuMicrosPerRequest })),
      };
    });
  } finally {
    await Promise.all(servers.map((s) => stopChild(s.child)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting.

function printTable(rows) {
  const baselineCpu = rows[0]?.cpuMicrosPerRequest ?? null;
  const columns = ['scenario', 'backend', 'req/s (mean)', 'p99 latency ms', 'ratio vs baseline', 'ratio range', 'CPU µs/req', 'CPU ratio', 'non-2xx'];
  const cells = rows.map((r) => [
    r.scenario,
    r.backend,
    r.reqPerSecMean.toFixed(0),
    String(r.latencyP99Ms),
    r.ratio.toFixed(3),
    `${r.ratioRange[0].toFixed(2)}–${r.ratioRange[1].toFixed(2)}`,
    r.cpuMicrosPerRequest === null ? 'n/a' : r.cpuMicrosPerRequest.toFixed(1),
    r.cpuMicrosPerRequest === null || baselineCpu === null ? 'n/a' : (baselineCpu / r.cpuMicrosPerRequest).toFixed(3),
    r.errors || r.timeouts ? `${r.non2xx} (+${r.errors} errors, ${r.timeouts} timeouts)` : String(r.non2xx),
  ]);
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const numeric = [false, false, true, true, true, true, true, true, true];
  const line = (row) => row.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}

async function main() {
  const startedAt = new Date();
  const postgres = await choosePostgres();
  console.log(`Coffer benchmark — ${CONNECTIONS} connections, ${DURATION} s per run after a ${WARMUP} s warm-up, ${ROUNDS} rounds of the vault scenario, 127.0.0.1`);
  console.log(`Node ${process.version}, ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? 'unknown'})`);
  console.log(postgres.url ? postgres.note : `\n${'!'.repeat(78)}\n!!  ${postgres.note}\n${'!'.repeat(78)}\n`);

  const rows = [];
  if (ONLY.has('vault')) {
    rows.push(...(await benchVault(postgres.url)));

    console.log('');
    printTable(rows);
    console.log('');
    console.log(`Goal: Coffer req/s ÷ hello-world req/s ≥ ${GOAL_RATIO.sqlite} on SQLite and ≥ ${GOAL_RATIO.postgres} on PostgreSQL, p99 ≤ ${P99_GOAL_MS} ms`);
    console.log(`(each row is its median round of ${ROUNDS}; ratio: the median of the rounds' ratios, each against the baseline run of the same round)`);
    console.log('(CPU ratio: hello-world CPU per request ÷ Coffer CPU per request, the same comparison without what else the machine ran meanwhile)');
    for (const row of rows.slice(1)) {
      const goal = goalOf(row);
      const met = row.ratio >= goal && row.latencyP99Ms <= P99_GOAL_MS;
      console.log(`  ${row.backend.padEnd(8)} ${row.scenario.padEnd(50)} ratio ${row.ratio.toFixed(3)} (goal ${goal}), p99 ${row.latencyP99Ms} ms (goal ≤ ${P99_GOAL_MS}) → ${met ? 'MET' : 'NOT MET'}`);
    }
    if (!postgres.url) console.log(`  postgres SKIPPED (${postgres.note.replace(/^PostgreSQL SKIPPED: /, '')})`);
  }
  const cofferRows = rows.slice(1);

  // Proxy.
  let proxy = { ran: false };
  if (ONLY.has('proxy')) {
    const result = await runProxyBench(postgres.url, { startChild, stopChild, sample, measure, register: track, onCleanup, profile: PROFILE });
    proxy = { ran: true, nginx: result.nginx, rows: result.rows };
    console.log('');
    console.log('Proxy — GET of a small JSON document from a provider API on 127.0.0.1, with its bearer credential injected');
    printProxyTable(result.rows);
    console.log('');
    if (!result.nginx.ran) console.log(`Goal (Coffer ≥ ${PROXY_GOAL_RATIO} × nginx) NOT CHECKED: ${result.nginx.reason}`);
    else {
      console.log(`Goal: Coffer /proxy req/s ÷ nginx proxy_pass req/s ≥ ${PROXY_GOAL_RATIO}`);
      for (const row of result.rows.filter((r) => r.scenario.includes('Coffer'))) {
        console.log(`  ${row.backend.padEnd(8)} ratio ${row.ratio.toFixed(3)} → ${row.ratio >= PROXY_GOAL_RATIO ? 'MET' : 'NOT MET'}`);
      }
    }
  }

  // Scale (only when asked for: seeding a million rows per backend takes minutes).
  let scale = { ran: false };
  if (ONLY.has('scale')) {
    const results = await runScaleBench(postgres.url, { startChild, stopChild, measure });
    console.log('');
    console.log('Scale — random reads and list pages with a small and a large seeded store');
    const verdicts = printScaleTable(results);
    scale = { ran: true, goals: SCALE_GOALS, verdicts, results: results.map(({ backend, small, large }) => ({ backend, small: { ...small, rows: small.rows.map(({ url, ...r }) => r) }, large: { ...large, rows: large.rows.map(({ url, ...r }) => r) } })) };
  }

  // Refresh storm (PostgreSQL only).
  console.log('');
  let storm = { ran: false, reason: 'not selected (BENCH_ONLY)' };
  if (!ONLY.has('storm')) {
    console.log('Refresh storm not run (BENCH_ONLY)');
  } else if (!postgres.url) {
    storm = { ran: false, reason: postgres.note };
    console.log(`Refresh storm (${STORM_CALLS} concurrent calls on an expired token, ${STORM_INSTANCES} instances) SKIPPED: it needs PostgreSQL`);
    console.log(`  (${postgres.note.replace(/^PostgreSQL SKIPPED: /, '')})`);
  } else {
    try {
      storm = { ran: true, ...(await runRefreshStorm({ pgUrl: postgres.url, register: track, onCleanup })) };
      console.log(`Refresh storm — ${storm.calls} concurrent GET /vault/connections/crm/<id>/credentials on an expired token, ${storm.instances} instances, one PostgreSQL schema`);
      printStormTable(storm);
      console.log(`  Bar: exactly 1 refresh at the provider, 0 errors, 1 distinct token → ${storm.failed ? 'FAILED' : 'MET'}`);
    } catch (error) {
      storm = { ran: true, failed: true, failures: [`set-up failed: ${error?.message ?? error}`] };
      console.log(`Refresh storm FAILED during set-up: ${error?.stack ?? error}`);
    }
  }

  const failures = [...rows, ...(proxy.rows ?? []), ...(scale.results ?? []).flatMap((r) => [...r.small.rows, ...r.large.rows])].filter((r) => r.non2xx > 0 || r.errors > 0 || r.timeouts > 0 || r.warmup.non2xx > 0 || r.warmup.errors > 0);
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    connections: CONNECTIONS,
    durationSeconds: DURATION,
    rounds: ROUNDS,
    warmupSeconds: WARMUP,
    goal: { ratio: GOAL_RATIO, p99Ms: P99_GOAL_MS, met: cofferRows.every((r) => r.ratio >= goalOf(r) && r.latencyP99Ms <= P99_GOAL_MS) },
    proxy: proxy.ran
      ? {
          goal: { ratioToNginx: PROXY_GOAL_RATIO, met: proxy.nginx.ran ? proxy.rows.filter((r) => r.scenario.includes('Coffer')).every((r) => r.ratio >= PROXY_GOAL_RATIO) : null },
          nginx: proxy.nginx,
          results: proxy.rows.map(({ url, ...rest }) => ({ ...rest, path: new URL(url).pathname })),
        }
      : { ran: false },
    postgres: postgres.url ? { ran: true, url: redactUrl(postgres.url) } : { ran: false, reason: postgres.note },
    results: rows.map(({ url, ...rest }) => ({ ...rest, path: new URL(url).pathname })),
    refreshStorm: storm,
    scale,
    failed: failures.length > 0 || Boolean(storm.failed),
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`\nWrote ${path.relative(process.cwd(), path.join(resultsDir, 'latest.json'))}`);

  if (failures.length) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}`);
    for (const r of failures) {
      console.error(
        `!!  ${r.scenario} (${r.backend}): ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts` +
          ` (warm-up: ${r.warmup.non2xx} non-2xx, ${r.warmup.errors} errors)`,
      );
    }
    console.error(`!!  The benchmark is INVALID: every response must be 2xx.\n${bar}`);
    process.exitCode = 1;
  }
  if (storm.failed) {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}`);
    for (const failure of storm.failures) console.error(`!!  refresh storm: ${failure}`);
    console.error(`!!  The refresh storm FAILED: it must cause exactly 1 refresh, 0 errors and hand out 1 token.\n${bar}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  console.error(`\n[bench] FAILED: ${error?.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
