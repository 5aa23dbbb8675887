// A stand-in for a provider's API: a real HTTP server on 127.0.0.1 that checks the credentials it receives the way a
// provider would, answers 200 or 401 with a JSON `{"message": …}` body, serves a document of field descriptions, and
// records every request exactly as it arrived (method, path, query string, headers).
//
// The first path segment says where a request carries its credential, so one server fits every injection style:
//   /bearer/… → `Authorization: Bearer <credential>`     /header/… → `X-Api-Key: <credential>`
//   /query/…  → `?apikey=<credential>`                   /basic/…  → `Authorization: Basic base64(<user>:<password>)`
//   /oauth/…  → `Authorization: Bearer <access token>`
// The last segment picks the answer: `me` (a verification request) or `fields` (the field descriptions).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export type Style = 'bearer' | 'header' | 'query' | 'basic' | 'oauth';

export interface SeenRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The raw query string, without `?` ('' when none). */
  search: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  style: Style | null;
  /** The credential as this upstream read it (for basic: `user:password`), or null when none was sent. */
  credential: string | null;
  body: string;
}

export interface TestUpstream {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: SeenRequest[];
  /** Credentials this provider accepts (any style). */
  accepted: Set<string>;
  /** The `message` of a 401 answer. */
  rejectMessage: (credential: string | null) => string;
  /** When set, every request is answered with this status and `{"message": …}` (an outage). */
  failWith: { status: number; message: string } | null;
  /** The document served at `…/fields`. */
  fields: unknown;
  /** Requests received since the last `take()`, which empties the list. */
  take(): SeenRequest[];
  close(): Promise<void>;
}

export function credentialOf(style: Style | null, req: http.IncomingMessage, url: URL): string | null {
  const authorization = req.headers.authorization ?? '';
  switch (style) {
    case 'bearer':
    case 'oauth':
      return authorization.startsWith('Bearer ') ? authorization.slice(7) : null;
    case 'header': {
      const value = req.headers['x-api-key'];
      return typeof value === 'string' ? value : null;
    }
    case 'query':
      return url.searchParams.get('apikey');
    case 'basic':
      return authorization.startsWith('Basic ') ? Buffer.from(authorization.slice(6), 'base64').toString('utf8') : null;
    default:
      return null;
  }
}

export async function startUpstream(): Promise<TestUpstream> {
  const upstream: TestUpstream = {
    url: '',
    requests: [],
    accepted: new Set<string>(),
    rejectMessage: () => 'The API credentials are not valid',
    failWith: null,
    fields: { fields: [] },
    take() {
      return upstream.requests.splice(0, upstream.requests.length);
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream.local');
      const segments = url.pathname.split('/').filter(Boolean);
      const style = (['bearer', 'header', 'query', 'basic', 'oauth'] as const).find((s) => s === segments[0]) ?? null;
      const credential = credentialOf(style, req, url);
      upstream.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        search: url.search.replace(/^\?/, ''),
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        style,
        credential,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (upstream.failWith) return answer(upstream.failWith.status, { message: upstream.failWith.message });
      const last = segments[segments.length - 1];
      if (!style || (last !== 'me' && last !== 'fields')) return answer(404, { message: `No route ${url.pathname}` });
      if (credential === null || !upstream.accepted.has(credential)) return answer(401, { message: upstream.rejectMessage(credential) });
      return last === 'me' ? answer(200, { id: 'user-1', name: 'Upstream user' }) : answer(200, upstream.fields);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  upstream.close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  return upstream;
}

/** Writes each connector as `<id>.yaml` into a fresh temp directory; returns the directory. */
export function writeConnectorDir(prefix: string, connectors: Array<Record<string, unknown> & { id: string }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const connector of connectors) fs.writeFileSync(path.join(dir, `${connector.id}.yaml`), YAML.stringify(connector));
  return dir;
}

/** Basic credentials as a provider receives them. */
export const basicHeader = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/**
 * `coffer connector check DIR --json` with the BUILT CLI (dist/cli.js; `npm run build` first), in an environment
 * without any COFFER_* variable.
 */
export async function connectorCheck(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('COFFER_') && key !== 'DATABASE_URL') env[key] = value;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'connector', 'check', dir, '--json'], { env, cwd: os.tmpdir(), encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}
