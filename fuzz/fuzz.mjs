// The fuzzer's programmatic entry: runFuzz({ backend, n, seed, concurrency }) → report. Starts the provider stub
// here and Coffer in a child process (fuzz/serve.mjs), sets up two applications' data through the HTTP API, sends n
// generated requests over `concurrency` keep-alive connections, checks every answer (check.mjs), then asks whether
// the server is still alive. formatReport(report) is the table the CLI and the test print.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { check } from './check.mjs';
import { generateRequest, operationsOf } from './generate.mjs';
import { startProviderStub } from './provider-stub.mjs';
import { send, slotAgent } from './send.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_SEED = 20240601;

function startServer(backend, stubUrl, pgUrl) {
  const child = spawn(process.execPath, ['--import', path.join(here, 'no-internet.mjs'), path.join(here, 'serve.mjs')], {
    env: { ...process.env, FUZZ_BACKEND: backend, FUZZ_STUB_URL: stubUrl, ...(pgUrl ? { FUZZ_PG_URL: pgUrl } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => {
    stderr.push(chunk);
    if (process.env.FUZZ_VERBOSE) process.stderr.write(chunk);
  });
  const ready = new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const info = JSON.parse(line);
        if (info.ready) resolve(info);
      } catch {
        // not our line
      }
    });
    child.once('exit', (code) => reject(new Error(`fuzz/serve.mjs exited with ${code} before it was ready: ${Buffer.concat(stderr).toString().slice(-2000)}`)));
  });
  return { child, ready, stderr };
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function call(url, method, pathname, headers, body) {
  const res = await fetch(url + pathname, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: res.status, text, json };
}

/** Consumers, connections (with the canaries), a session, a webhook and a Flows Vault connection, all over HTTP. */
async function setUp(url, apps, stubUrl) {
  const [A, B] = apps;
  const canaries = [`CANARY-${crypto.randomBytes(8).toString('hex')}`, `CANARY-${crypto.randomBytes(8).toString('hex')}`];
  const headersOf = (app, consumer) => ({ authorization: `Bearer ${app.apiKey}`, 'x-apideck-app-id': app.appId, ...(consumer ? { 'x-apideck-consumer-id': consumer } : {}) });
  const must = async (what, res, ...ok) => {
    if (!ok.includes(res.status)) throw new Error(`set-up: ${what} answered ${res.status}: ${res.text.slice(0, 500)}`);
    return res;
  };
  const consumers = { read: ['fuzz-canary', 'fuzz-c1', 'fuzz-c2'], write: ['fuzz-c1', 'fuzz-c2', 'fuzz-w1'], scratch: ['fuzz-s0', 'fuzz-s1', 'fuzz-s2'] };
  for (const id of new Set([...consumers.read, ...consumers.write, ...consumers.scratch])) {
    await must(`creating consumer ${id}`, await call(url, 'POST', '/vault/consumers', headersOf(A), { consumer_id: id, metadata: { account_name: `Fuzz ${id}`, email: `${id}@fuzz.example` } }), 200, 201);
  }
  await must('creating a consumer of B', await call(url, 'POST', '/vault/consumers', headersOf(B), { consumer_id: 'fuzz-b1' }), 200, 201);
  for (const consumer of ['fuzz-canary', 'fuzz-c1', 'fuzz-s0', 'fuzz-s1']) {
    const secret = consumer === 'fuzz-canary' ? canaries[0] : `key-${consumer}`;
    await must(`fuzz-proxy connection of ${consumer}`, await call(url, 'POST', '/vault/connections/crm/fuzz-proxy', headersOf(A, consumer), { settings: { api_key: secret, region: 'eu' } }), 200, 201);
    await must(`pipedrive connection of ${consumer}`, await call(url, 'POST', '/vault/connections/crm/pipedrive', headersOf(A, consumer), { settings: { api_key: `pd-${consumer}` } }), 200, 201);
  }
  const notes = [];
  for (const [consumer, expires] of [['fuzz-canary', 3600], ['fuzz-c1', 1], ['fuzz-s0', 3600]]) {
    const res = await call(url, 'POST', '/vault/connections/crm/fuzz-oauth/import', headersOf(A, consumer), {
      credentials: { access_token: `at-${consumer}`, refresh_token: `rt-${consumer}`, expires_in: expires },
    });
    if (res.status >= 300) notes.push(`importing fuzz-oauth tokens for ${consumer} answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  const session = await must('creating a session', await call(url, 'POST', '/vault/sessions', headersOf(A, 'fuzz-c1'), { consumer_metadata: { account_name: 'Fuzz' } }), 200, 201);
  const webhook = await must(
    'creating a webhook',
    await call(url, 'POST', '/webhook/webhooks', headersOf(A), { unified_api: 'crm', delivery_url: `${stubUrl}/webhook`, events: ['*'] }),
    200,
    201,
  );
  const flows = await must(
    'creating a Flows Vault connection',
    await call(url, 'POST', '/api/v2/flows/vault/connections', { authorization: `Bearer ${A.managementToken}` }, { name: 'fuzz', app_id: 'AIRTABLE', setup: { type: 'API_KEY', api_key: canaries[1] } }),
    201,
  );
  return {
    apps,
    stubUrl,
    canaries,
    consumers,
    sessionToken: session.json.data.session_token,
    sessionConsumer: 'fuzz-c1',
    webhookId: webhook.json.data.id,
    flowsId: flows.json.id,
    notes,
  };
}

async function alive(url) {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

function excerpt(buffer, max = 300) {
  const text = buffer.toString('utf8');
  return text.length > max ? `${text.slice(0, max)}… (${buffer.length} bytes)` : text;
}

function example(spec, result, previous) {
  const headers = { ...spec.headers };
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string' && v.length > 120) headers[k] = `${v.slice(0, 40)}… (${v.length} chars)`;
  return {
    request: spec.i,
    method: spec.method,
    url: spec.path.length > 300 ? `${spec.path.slice(0, 300)}… (${spec.path.length} chars)` : spec.path,
    headers,
    body: spec.body ? excerpt(spec.body) : null,
    notes: spec.notes,
    status: result.status,
    response: excerpt(result.body),
    ...(previous ? { previousOnConnection: previous } : {}),
  };
}

/**
 * One run. backend: 'sqlite' | 'postgres' (pgUrl required); n requests; seed; concurrency keep-alive slots.
 * → { backend, seed, n, ms, operations: {op: {count, statuses}}, coverage: {op: count}, findings: [...], totals, alive }
 */
export async function runFuzz({ backend = 'sqlite', n = 3000, seed = DEFAULT_SEED, concurrency = 8, pgUrl = null, log = () => {} } = {}) {
  if (backend === 'postgres' && !pgUrl) throw new Error('PostgreSQL needs a database URL (FUZZ_DATABASE_URL or TEST_DATABASE_URL)');
  const stub = await startProviderStub();
  const server = startServer(backend, stub.url, pgUrl);
  try {
    const info = await server.ready;
    const doc = await (await fetch(`${info.url}/openapi.json`)).json();
    const ops = operationsOf(doc);
    const ctx = await setUp(info.url, info.apps, stub.url);
    for (const note of ctx.notes) log(`note: ${note}`);
    log(`fuzzing ${backend}: ${ops.length} operations, ${n} requests, seed ${seed}, concurrency ${concurrency}`);

    const operations = {};
    const coverage = Object.fromEntries(ops.map((op) => [`${op.method} ${op.template}`, 0]));
    const findings = new Map();
    const totals = { requests: 0, coffer5xx: 0, provider5xx: 0, hangs: 0, outsideEnvelope: 0, crossTenant: 0, connectionDropped: 0, clientRefused: 0, loggedErrors: 0 };
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      let agent = slotAgent();
      let previous = null;
      while (next < n) {
        const i = next++;
        const spec = generateRequest(seed, i, ops, ctx);
        const result = await send(info.url, spec, agent);
        totals.requests++;
        coverage[spec.op] = (coverage[spec.op] ?? 0) + 1;
        const key = `${spec.method} ${spec.template}`;
        const entry = (operations[key] ??= { count: 0, statuses: {} });
        entry.count++;
        const label = result.hang ? 'hang' : result.clientRefused ? 'refused' : result.hungUp ? 'hung-up' : result.status === null ? 'drop' : String(result.status);
        entry.statuses[label] = (entry.statuses[label] ?? 0) + 1;
        if (result.clientRefused) totals.clientRefused++;
        const verdict = check(spec, result, ctx.canaries);
        if (verdict.provider5xx) totals.provider5xx++;
        for (const finding of verdict.findings) {
          if (finding.kind === 'coffer-5xx') totals.coffer5xx++;
          if (finding.kind === 'hang') totals.hangs++;
          if (finding.kind === 'outside-envelope') totals.outsideEnvelope++;
          if (finding.kind === 'cross-tenant-read') totals.crossTenant++;
          if (finding.kind === 'connection-dropped') totals.connectionDropped++;
          const id = `${finding.kind} ${key}`;
          const known = findings.get(id);
          if (known) known.count++;
          else findings.set(id, { kind: finding.kind, op: key, count: 1, detail: finding.detail, example: example(spec, result, finding.kind === 'hang' ? previous : null) });
        }
        previous = {
          request: spec.i,
          method: spec.method,
          url: spec.path.slice(0, 200),
          ...(spec.headers['x-apideck-downstream-url'] !== undefined ? { downstream: spec.headers['x-apideck-downstream-url'], downstreamMethod: spec.headers['x-apideck-downstream-method'] } : {}),
          expect: spec.expect100,
          bodyBytes: spec.body?.length ?? 0,
          status: result.status,
          response: excerpt(result.body, 160),
        };
        if (result.hang || result.error || result.hungUp) {
          agent.destroy();
          agent = slotAgent();
          previous = null;
        }
      }
      agent.destroy();
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const ms = performance.now() - started;
    const isAlive = server.child.exitCode === null && server.child.signalCode === null && (await alive(info.url));
    // Give the last log lines a moment to arrive, then count what the server logged as its own error.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const entry of loggedErrors(server.stderr)) {
      totals.loggedErrors++;
      const id = `logged-error ${entry.what}`;
      const known = findings.get(id);
      if (known) known.count++;
      else findings.set(id, { kind: 'logged-error', op: 'server log', count: 1, detail: entry.what, example: entry.line });
    }
    return { backend, seed, n, concurrency, ms, operations, coverage, findings: [...findings.values()], totals, alive: isAlive, stub: { ...stub.stats } };
  } finally {
    await stopServer(server.child);
    await stub.close();
  }
}

/** The server's log entries at level error or above (pino: 50), as `{what, line}`. */
function loggedErrors(chunks) {
  const out = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry?.level !== 'number' || entry.level < 50) continue;
    out.push({ what: `${entry.msg ?? ''}${entry.err ? `: ${entry.err.type ?? ''} ${entry.err.message ?? ''}` : ''}`.slice(0, 300), line: line.slice(0, 1500) });
  }
  return out;
}

/** A report is clean when nothing in it is Coffer's fault and the server survived. */
export function isClean(report) {
  return report.findings.length === 0 && report.alive;
}

export function formatReport(report) {
  const lines = [];
  const t = report.totals;
  lines.push(`== Coffer fuzz on ${report.backend}: seed ${report.seed}, ${report.n} requests, concurrency ${report.concurrency}`);
  const width = Math.max(...Object.keys(report.operations).map((k) => k.length), 10);
  for (const [op, { count, statuses }] of Object.entries(report.operations).sort(([a], [b]) => a.localeCompare(b))) {
    const histogram = Object.entries(statuses)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([s, c]) => `${s}×${c}`)
      .join(' ');
    lines.push(`  ${op.padEnd(width)} ${String(count).padStart(5)}  ${histogram}`);
  }
  const unreached = Object.entries(report.coverage).filter(([, c]) => c === 0).map(([op]) => op);
  if (unreached.length) lines.push(`  operations never requested: ${unreached.join(', ')}`);
  if (report.findings.length) {
    lines.push('', `-- ${report.findings.length} distinct findings (kind × operation):`);
    for (const f of [...report.findings].sort((a, b) => a.kind.localeCompare(b.kind) || a.op.localeCompare(b.op))) {
      lines.push(`[${f.kind}] ${f.op} ×${f.count}: ${f.detail}`);
      lines.push(`    e.g. ${JSON.stringify(f.example)}`);
    }
  }
  const rate = report.ms ? (t.requests / (report.ms / 1000)).toFixed(0) : '0';
  lines.push(
    '',
    `requests ${t.requests} in ${(report.ms / 1000).toFixed(1)} s (${rate} req/s) | Coffer 5xx ${t.coffer5xx} | provider 5xx ${t.provider5xx} | hangs ${t.hangs} | ` +
      `outside envelope ${t.outsideEnvelope} | cross-tenant ${t.crossTenant} | dropped connections ${t.connectionDropped} | logged errors ${t.loggedErrors} | server alive: ${report.alive ? 'yes' : 'NO'}`,
  );
  return lines.join('\n');
}
