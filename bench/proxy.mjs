// The proxy scenario of `npm run bench`: one provider API on loopback (bench/serve-upstream.mjs) measured
//   1. directly (the ceiling),
//   2. through nginx `proxy_pass` with the credential injected by `proxy_set_header Authorization` (when `nginx` is on
//      PATH: a temp prefix, a temp config, `daemon off`, one worker — Coffer is one Node process too),
//   3. through a bare Node proxy on Coffer's own stack (fastify + undici, nothing else): the floor for any Node proxy,
//   4. through Coffer's `GET /proxy` (API-key auth, connection lookup, credential injection), per backend.
// Goal: Coffer's req/s ≥ 0.6 × nginx's.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort } from '../scripts/child-server.mjs';

export const PROXY_GOAL_RATIO = 0.6;
const TOKEN = 'bench-upstream-token';

function nginxBinary() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin'])) {
    const candidate = path.join(dir, 'nginx');
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}


async function waitForPort(port, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (code ${child.exitCode}) before listening`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => socket.end(() => resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms`);
}

/** Starts nginx in a temp prefix as a tracked child (`daemon off`); returns its URL and a stop function. */
async function startNginx(binary, upstreamUrl, { register, onCleanup }) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-nginx-'));
  const removeDir = () => fs.rmSync(prefix, { recursive: true, force: true });
  const unregister = onCleanup(removeDir);
  const port = await freePort();
  const upstream = new URL(upstreamUrl);
  const temp = (name) => path.join(prefix, name);
  const conf = `
worker_processes 1;
daemon off;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  upstream provider { server ${upstream.host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${TOKEN}";
    }
  }
}
`;
  fs.writeFileSync(temp('nginx.conf'), conf);
  const child = spawn(binary, ['-p', prefix, '-c', temp('nginx.conf'), '-e', temp('error.log')], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.benchName = 'nginx';
  register(child);
  await waitForPort(port, child);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    cleanup() {
      removeDir();
      unregister();
    },
  };
}

/**
 * Runs the scenario. `deps` comes from run.mjs: startChild, stopChild, sample, measure, register, onCleanup.
 * Returns `{ rows, nginx: {ran, reason?} }`; every row has `ratio` against nginx (or null without it) and `ofDirect`.
 */
export async function runProxyBench(postgresUrl, deps) {
  const { startChild, stopChild, sample, measure } = deps;
  const { child: upstreamChild, info: upstreamInfo } = await startChild('upstream', 'serve-upstream.mjs', { BENCH_UPSTREAM_TOKEN: TOKEN });
  const rows = [];
  let nginxState = { ran: false, reason: 'nginx is not on PATH (apt-get install -y nginx)' };
  const checkMe = (body) => (body?.id === 'user-1' ? null : 'body is not the upstream user');
  try {
    const direct = `${upstreamInfo.url}/v1/me`;
    const directHeaders = { authorization: `Bearer ${TOKEN}` };
    await sample(direct, directHeaders, checkMe);
    rows.push(await measure('proxy: direct upstream (GET /v1/me)', 'node:http', direct, directHeaders));

    const binary = nginxBinary();
    if (binary) {
      const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim();
      const nginx = await startNginx(binary, upstreamInfo.url, deps);
      try {
        const url = `${nginx.url}/v1/me`;
        await sample(url, {}, checkMe);
        rows.push(await measure('proxy: nginx proxy_pass, 1 worker', version.replace(/^nginx version: /, ''), url, {}));
        nginxState = { ran: true, version };
      } finally {
        await stopChild(nginx.child);
        nginx.cleanup();
      }
    }

    const bare = await startChild('node-proxy', 'serve-node-proxy.mjs', { BENCH_UPSTREAM_URL: upstreamInfo.url, BENCH_UPSTREAM_TOKEN: TOKEN });
    try {
      const url = `${bare.info.url}/v1/me`;
      await sample(url, {}, checkMe);
      rows.push(await measure('proxy: bare Node proxy (fastify + undici, no auth/lookup/log)', 'node', url, {}));
    } finally {
      await stopChild(bare.child);
    }

    for (const backend of postgresUrl ? ['sqlite', 'postgres'] : ['sqlite']) {
      const env = { BENCH_BACKEND: backend, BENCH_UPSTREAM_URL: upstreamInfo.url, BENCH_UPSTREAM_TOKEN: TOKEN, ...(postgresUrl ? { BENCH_PG_URL: postgresUrl } : {}) };
      const { child, info } = await startChild(`coffer-proxy-${backend}`, 'serve-coffer.mjs', env, { profile: deps.profile });
      try {
        const url = `${info.url}/proxy`;
        const headers = {
          authorization: `Bearer ${info.apiKey}`,
          'x-apideck-app-id': info.appId,
          'x-apideck-consumer-id': info.consumerId,
          'x-apideck-service-id': info.proxyServiceId,
          'x-apideck-downstream-url': `${upstreamInfo.url}/v1/me`,
        };
        await sample(url, headers, checkMe);
        rows.push(await measure('proxy: Coffer GET /proxy (API key, injected bearer)', backend, url, headers));
      } finally {
        await stopChild(child);
      }
    }
  } finally {
    await stopChild(upstreamChild);
  }
  const nginxRow = rows.find((r) => r.scenario.includes('nginx'));
  const directRow = rows[0];
  for (const row of rows) {
    row.ofDirect = row.reqPerSecMean / directRow.reqPerSecMean;
    row.ratio = nginxRow ? row.reqPerSecMean / nginxRow.reqPerSecMean : null;
  }
  return { rows, nginx: nginxState };
}

export function printProxyTable(rows) {
  const columns = ['scenario', 'server', 'req/s (mean)', 'p99 latency ms', '÷ direct', '÷ nginx', 'non-2xx'];
  const cells = rows.map((r) => [
    r.scenario,
    r.backend,
    r.reqPerSecMean.toFixed(0),
    String(r.latencyP99Ms),
    r.ofDirect.toFixed(3),
    r.ratio === null ? 'n/a' : r.ratio.toFixed(3),
    r.errors || r.timeouts ? `${r.non2xx} (+${r.errors} errors, ${r.timeouts} timeouts)` : String(r.non2xx),
  ]);
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const numeric = [false, false, true, true, true, true, true];
  const line = (row) => row.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}
