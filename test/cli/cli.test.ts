// The BUILT `coffer` CLI (dist/cli.js) as a subprocess, on SQLite while a `coffer serve` runs on the same store,
// plus an `npm start`-style first run and (with TEST_DATABASE_URL) one PostgreSQL run.
// `npm test` builds first (pretest); when running vitest directly, `npm run build` first.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/connectors/loader.js';
import { dropSchema, postgresUrlWithSchema } from '../support/coffer.js';
import { CLI, cliChildren, runCli, serveCli, stopCli, type ServedCli } from '../support/cli.js';

const CATALOGUE_IDS = loadCatalogue().ids();

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-cli-'));
  tempDirs.push(dir);
  return dir;
}

const children = cliChildren;
const run = runCli;

async function ok(args: string[], env: Record<string, string>): Promise<string> {
  const result = await run(args, env);
  expect(result.stderr, `coffer ${args.join(' ')}`).toBe('');
  expect(result.code, `coffer ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function okJson<T = any>(args: string[], env: Record<string, string>): Promise<T> {
  const stdout = await ok([...args, '--json'], env);
  expect(stdout.endsWith('\n')).toBe(true);
  expect(stdout.trimEnd().split('\n'), `one JSON line from coffer ${args.join(' ')}`).toHaveLength(1);
  return JSON.parse(stdout) as T;
}

/** Exit ≠ 0, nothing on stdout, exactly one line `coffer: <reason>` on stderr; returns the reason. */
async function fails(args: string[], env: Record<string, string>): Promise<string> {
  const result = await run(args, env);
  expect(result.code, `coffer ${args.join(' ')} should fail`).not.toBe(0);
  expect(result.code).not.toBeNull();
  expect(result.stdout).toBe('');
  expect(result.stderr, `one line from coffer ${args.join(' ')}`).toMatch(/^coffer: [^\n]+\n$/);
  return result.stderr.slice('coffer: '.length).trimEnd();
}

type Server = ServedCli;
const serve = serveCli;
const stop = stopCli;

async function connections(url: string, appId: string, apiKey: string, consumerId = 'cli-consumer'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/vault/connections`, {
    headers: { authorization: `Bearer ${apiKey}`, 'x-apideck-app-id': appId, 'x-apideck-consumer-id': consumerId },
  });
  return { status: res.status, body: await res.json() };
}

function parseBanner(stdout: string): { appId: string; apiKey: string } | null {
  const appId = /Application id: (\S+)/.exec(stdout)?.[1];
  const apiKey = /API key:\s+(\S+)/.exec(stdout)?.[1];
  return appId && apiKey ? { appId, apiKey } : null;
}

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does it in pretest)`);
});

afterAll(async () => {
  await Promise.all([...children].map((child) => stop(child)));
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('coffer CLI on SQLite, while `coffer serve` runs on the same store', () => {
  let env: Record<string, string>;
  let server: Server;
  let dataDir: string;
  /** `app create --json` run after the server started: its raw stdout and what it printed. */
  let createdStdout: string;
  let main: { application_id: string; api_key: string };
  const appArgs = () => ['--app', main.application_id];

  beforeAll(async () => {
    dataDir = tempDir();
    env = { COFFER_DATA_DIR: dataDir, COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
    server = await serve(['--port', '0'], env);
    createdStdout = await ok(['app', 'create', '--json'], env);
    main = JSON.parse(createdStdout);
  });

  afterAll(async () => {
    if (server) await stop(server.child);
  });

  it('serve --port 0 prints the URL with the real port and creates the first application', async () => {
    expect(server.printedUrl).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):\d+$/);
    expect(Number(new URL(server.printedUrl).port)).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const first = parseBanner(server.stdout());
    expect(first).not.toBeNull();
    const res = await connections(server.url, first!.appId, first!.apiKey);
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeGreaterThan(0);
  });

  it('app create --json prints exactly {application_id, api_key}, usable over HTTP at once', async () => {
    expect(createdStdout).toMatch(/^\{"application_id": "app_[0-9a-z]+", "api_key": "cof_[A-Za-z0-9_-]+"\}\n$/);
    const created = JSON.parse(createdStdout) as Record<string, unknown>;
    expect(Object.keys(created).sort()).toEqual(['api_key', 'application_id']);
    expect(created.application_id).toMatch(/^app_[0-9a-z]+$/);
    expect(created.api_key).toMatch(/^cof_[A-Za-z0-9_-]{40,}$/);
    const res = await connections(server.url, main.application_id, main.api_key);
    expect(res.status).toBe(200);
    const serviceIds = new Set(res.body.data.map((c: { service_id: string }) => c.service_id));
    expect([...serviceIds].sort()).toEqual(CATALOGUE_IDS);
    // The first application's key does not open this one.
    const first = parseBanner(server.stdout())!;
    expect((await connections(server.url, main.application_id, first.apiKey)).status).toBe(401);
  });

  it('app create --id --name; a duplicate id and an invalid id fail with one line', async () => {
    const appId = `my-app-${crypto.randomBytes(3).toString('hex')}`;
    const created = await okJson(['app', 'create', '--id', appId, '--name', 'X'], env);
    expect(Object.keys(created).sort()).toEqual(['api_key', 'application_id']);
    expect(created.application_id).toBe(appId);
    const [duplicate, invalid] = await Promise.all([
      fails(['app', 'create', '--id', appId, '--json'], env),
      fails(['app', 'create', '--id', 'no spaces allowed!', '--json'], env),
    ]);
    expect(duplicate).toContain(appId);
    expect(duplicate).toMatch(/already exists/);
    expect(invalid).toMatch(/may only hold/);
    expect((await connections(server.url, appId, created.api_key)).status).toBe(200);
  });

  it('key create | list | revoke (JSON and human output); a revoked key is refused by the running server', async () => {
    const [made, madeHuman] = await Promise.all([okJson(['key', 'create', ...appArgs()], env), ok(['key', 'create', ...appArgs()], env)]);
    expect(Object.keys(made).sort()).toEqual(['api_key', 'id']);
    expect(made.id).toMatch(/^key_/);
    expect(made.api_key).toMatch(/^cof_/);
    const humanKey = /API key: (\S+)/.exec(madeHuman)?.[1];
    const humanKeyId = /Key id:\s+(\S+)/.exec(madeHuman)?.[1];
    expect(humanKey).toMatch(/^cof_/);
    expect(humanKeyId).toMatch(/^key_/);
    expect((await connections(server.url, main.application_id, made.api_key)).status).toBe(200);
    expect((await connections(server.url, main.application_id, humanKey!)).status).toBe(200);

    const [list, listHuman] = await Promise.all([okJson<any[]>(['key', 'list', ...appArgs()], env), ok(['key', 'list', ...appArgs()], env)]);
    expect(list).toHaveLength(3);
    for (const k of list) expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'last4', 'revoked_at']);
    expect(list.find((k) => k.id === made.id)).toMatchObject({ last4: made.api_key.slice(-4), revoked_at: null });
    expect(JSON.stringify(list)).not.toContain(made.api_key);
    expect(listHuman.trimEnd().split('\n')).toHaveLength(3);
    expect(listHuman).toContain(made.id);
    expect(listHuman).toContain(humanKeyId);
    expect(listHuman).toContain(made.api_key.slice(-4));
    expect(listHuman).not.toContain(made.api_key);

    const [revoked, revokedHuman] = await Promise.all([
      okJson(['key', 'revoke', made.id, ...appArgs()], env),
      ok(['key', 'revoke', humanKeyId!, ...appArgs()], env),
    ]);
    expect(revoked).toEqual({ id: made.id, revoked: true });
    expect(revokedHuman).toContain(humanKeyId);
    const refused = await connections(server.url, main.application_id, made.api_key);
    expect(refused.status).toBe(401);
    expect((await connections(server.url, main.application_id, humanKey!)).status).toBe(401);
    // The application's first key still works.
    expect((await connections(server.url, main.application_id, main.api_key)).status).toBe(200);

    const after = await okJson<any[]>(['key', 'list', ...appArgs()], env);
    expect(after.find((k) => k.id === made.id).revoked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(after.find((k) => k.id === humanKeyId).revoked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(after.find((k) => k.last4 === main.api_key.slice(-4)).revoked_at).toBeNull();
  });

  it('connector list shows every catalogue connector enabled; --no-connectors none', async () => {
    const [allList, none] = await Promise.all([
      okJson<any[]>(['connector', 'list', ...appArgs()], env),
      okJson(['app', 'create', '--no-connectors'], env),
    ]);
    expect(allList.map((c) => c.service_id)).toEqual(CATALOGUE_IDS);
    for (const c of allList) expect(c).toMatchObject({ enabled: true, client_id_configured: false, scopes: null });

    const noneList = await okJson<any[]>(['connector', 'list', '--app', none.application_id], env);
    expect(noneList.map((c) => c.service_id)).toEqual(CATALOGUE_IDS);
    for (const c of noneList) expect(c.enabled).toBe(false);
    const res = await connections(server.url, none.application_id, none.api_key);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([]);
  });

  it('connector disable pipedrive removes it from GET /vault/connections', async () => {
    const ids = async () => (await connections(server.url, main.application_id, main.api_key)).body.data.map((c: { id: string }) => c.id);
    expect(await ids()).toContain('crm+pipedrive');
    expect(await okJson(['connector', 'disable', 'pipedrive', ...appArgs()], env)).toEqual({
      application_id: main.application_id,
      service_id: 'pipedrive',
      enabled: false,
    });
    const after = await ids();
    expect(after).not.toContain('crm+pipedrive');
    expect(after).toContain('customer-support+zendesk');
    expect(after).toContain('crm+hubspot');
  });

  it('connector enable hubspot with an OAuth client flips integration_state to configured', async () => {
    const secret = `hubspot-secret-${crypto.randomBytes(12).toString('hex')}`;
    const hubspotStates = async () =>
      (await connections(server.url, main.application_id, main.api_key)).body.data
        .filter((c: { service_id: string }) => c.service_id === 'hubspot')
        .map((c: { integration_state: string }) => c.integration_state);
    expect(await hubspotStates()).toEqual(['needs_configuration', 'needs_configuration']);
    const enabled = await ok(['connector', 'enable', 'hubspot', ...appArgs(), '--client-id', 'x', '--client-secret', secret, '--scopes', 'a b'], env);
    expect(enabled).toMatch(/Enabled hubspot/);
    expect(enabled).not.toContain(secret);
    expect(await hubspotStates()).toEqual(['configured', 'configured']);
    const list = await okJson<any[]>(['connector', 'list', ...appArgs()], env);
    expect(list.find((c) => c.service_id === 'hubspot')).toMatchObject({ enabled: true, client_id_configured: true, scopes: ['a', 'b'] });
    expect(list.find((c) => c.service_id === 'pipedrive')).toMatchObject({ enabled: false }); // from the test above
    expect(JSON.stringify(list)).not.toContain(secret);
    // Sealed in the store.
    const raw = Buffer.concat(['coffer.db', 'coffer.db-wal'].filter((f) => fs.existsSync(path.join(dataDir, f))).map((f) => fs.readFileSync(path.join(dataDir, f))));
    expect(raw.includes(secret)).toBe(false);
  });

  it('app set --redirect-uris stores the list; a bad URI and an unknown application fail with one line', async () => {
    const [set, badUri, unknownApp] = await Promise.all([
      okJson(['app', 'set', ...appArgs(), '--redirect-uris', 'https://a.example,https://b.example'], env),
      fails(['app', 'set', ...appArgs(), '--redirect-uris', 'https://ok.example,not a url'], env),
      fails(['app', 'set', '--app', 'no-such-app', '--redirect-uris', 'https://a.example'], env),
    ]);
    expect(set).toEqual({ application_id: main.application_id, redirect_uris: ['https://a.example', 'https://b.example'] });
    expect(badUri).toContain('not a url');
    expect(unknownApp).toContain('no-such-app');
    const db = new BetterSqlite3(path.join(dataDir, 'coffer.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('select redirect_uris from applications where id = ?').get(main.application_id) as { redirect_uris: string };
      // the failed call changed nothing
      expect(JSON.parse(row.redirect_uris)).toEqual(['https://a.example', 'https://b.example']);
    } finally {
      db.close();
    }
  });

  it('app set --proxy-hosts stores the normalized allow-list; a bad host changes nothing', async () => {
    const set = await okJson(['app', 'set', ...appArgs(), '--proxy-hosts', 'Files.Acme.example, api.acme.example:8443,*.cdn.example'], env);
    expect(set).toEqual({ application_id: main.application_id, proxy_allowed_hosts: ['files.acme.example', 'api.acme.example:8443', '*.cdn.example'] });
    const bad = await fails(['app', 'set', ...appArgs(), '--proxy-hosts', 'ok.example,https://not-a-host/x', '--redirect-uris', 'https://z.example'], env);
    expect(bad).toContain('https://not-a-host/x');
    const db = new BetterSqlite3(path.join(dataDir, 'coffer.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('select proxy_allowed_hosts, redirect_uris from applications where id = ?').get(main.application_id) as Record<string, string>;
      expect(JSON.parse(row.proxy_allowed_hosts)).toEqual(['files.acme.example', 'api.acme.example:8443', '*.cdn.example']);
      expect(JSON.parse(row.redirect_uris)).not.toContain('https://z.example');
    } finally {
      db.close();
    }
  });

  it('bad usage exits ≠ 0 with a one-line reason', async () => {
    const countApps = () => {
      const db = new BetterSqlite3(path.join(dataDir, 'coffer.db'), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('select count(*) as n from applications').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const before = countApps();
    const [unknownCommand, missingApp, unknownOption, badEnvPort] = await Promise.all([
      fails(['frobnicate'], env),
      fails(['key', 'list', '--json'], env),
      fails(['app', 'create', '--bogus'], env),
      fails(['app', 'create', '--json'], { ...env, PORT: 'abc' }),
    ]);
    expect(unknownCommand).toContain('frobnicate');
    expect(missingApp).toContain('--app');
    expect(unknownOption).toContain('--bogus');
    expect(badEnvPort).toMatch(/PORT/);
    expect(badEnvPort).toContain('abc');
    // None of them created an application.
    expect(countApps()).toBe(before);
  });

  it('connector check validates a directory of connector files without starting', async () => {
    const good = tempDir();
    fs.writeFileSync(
      path.join(good, 'acme.yaml'),
      [
        'id: acme-crm',
        'name: Acme CRM',
        'website: https://acme.example',
        'unified_apis: [crm]',
        'auth_type: apiKey',
        'form_fields:',
        '  - id: api_key',
        '    label: API key',
        '    type: password',
        '    sensitive: true',
        'proxy:',
        '  base_url: https://api.acme.example/v1',
        '  auth:',
        '    type: bearer',
        '    value: "{api_key}"',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(good, 'other.json'),
      JSON.stringify({ id: 'other', name: 'Other', website: 'https://other.example', unified_apis: ['hris'], auth_type: 'none' }),
    );
    const bad = tempDir();
    fs.copyFileSync(path.join(good, 'acme.yaml'), path.join(bad, 'acme.yaml'));
    const badFile = path.join(bad, 'broken.yaml');
    fs.writeFileSync(
      badFile,
      [
        'id: broken',
        'name: Broken',
        'website: https://broken.example',
        'unified_apis: [crm]',
        'auth_type: oauth2',
        'oauth:',
        '  grant_type: authorization_code',
        '  authorization_url: https://broken.example/authorize',
        '',
      ].join('\n'),
    );

    const [json, human, broken] = await Promise.all([
      okJson(['connector', 'check', good], env),
      ok(['connector', 'check', good], env),
      fails(['connector', 'check', bad], env),
    ]);
    expect(json).toEqual({ valid: true, connectors: ['acme-crm', 'other'] });
    expect(human).toMatch(/^2 connector file\(s\) valid: acme-crm, other\n$/);
    expect(broken).toContain(badFile);
    expect(broken).toContain('oauth.token_url');

    // The same broken directory stops `coffer serve` before it listens or writes anything, with the same line.
    const freshDir = tempDir();
    const startup = await fails(['serve', '--port', '0'], { ...env, COFFER_DATA_DIR: freshDir, COFFER_CONNECTORS_DIR: bad });
    expect(startup).toContain(badFile);
    expect(startup).toContain('oauth.token_url');
    expect(fs.existsSync(path.join(freshDir, 'coffer.db'))).toBe(false);
    // A good directory adds its connectors to the catalogue the CLI shows.
    const listed = await okJson<Array<{ id: string }>>(['connector', 'list'], { ...env, COFFER_CONNECTORS_DIR: good });
    expect(listed.map((c) => c.id)).toEqual(expect.arrayContaining(['acme-crm', 'other', 'pipedrive']));
  });
});

describe('`npm start`-style first run: coffer serve on a fresh data dir without COFFER_MASTER_KEY', () => {
  it('creates master.key (0600) and one application, prints its id and key, and reuses both on the next start', async () => {
    const dataDir = tempDir();
    const env = { COFFER_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' };
    const first = await serve([], env);
    const banner = parseBanner(first.stdout());
    expect(banner, first.stdout()).not.toBeNull();
    expect(first.stdout() + first.stderr()).toMatch(/COFFER_MASTER_KEY/); // the production warning
    const res = await connections(first.url, banner!.appId, banner!.apiKey);
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeGreaterThan(0);
    const keyFile = path.join(dataDir, 'master.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const keyText = fs.readFileSync(keyFile, 'utf8');
    await stop(first.child);
    expect(first.child.exitCode).toBe(0);

    const second = await serve([], env);
    try {
      expect(parseBanner(second.stdout())).toBeNull();
      expect(second.stdout()).not.toMatch(/Created the first application/);
      expect(second.stdout() + second.stderr()).not.toMatch(/created a master key/i);
      expect(fs.readFileSync(keyFile, 'utf8')).toBe(keyText);
      // Same master key → the printed API key still authenticates.
      expect((await connections(second.url, banner!.appId, banner!.apiKey)).status).toBe(200);
    } finally {
      await stop(second.child);
    }
    const db = new BetterSqlite3(path.join(dataDir, 'coffer.db'), { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare('select id from applications').all()).toEqual([{ id: banner!.appId }]);
    } finally {
      db.close();
    }
  });
});

describe('processes starting together on a fresh data dir without COFFER_MASTER_KEY', () => {
  it('`coffer serve` and two `app create` at once: all succeed, with one master key', async () => {
    const dataDir = tempDir();
    const env = { COFFER_DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
    const [server, a, b] = await Promise.all([serve(['--port', '0'], env), okJson(['app', 'create'], env), okJson(['app', 'create'], env)]);
    try {
      expect(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
      for (const app of [a, b]) expect((await connections(server.url, app.application_id, app.api_key)).status).toBe(200);
      const first = parseBanner(server.stdout());
      if (first) expect((await connections(server.url, first.appId, first.apiKey)).status).toBe(200);
    } finally {
      await stop(server.child);
    }
  });
});

describe.runIf(Boolean(process.env.TEST_DATABASE_URL))('coffer CLI on PostgreSQL', () => {
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  let server: Server | undefined;

  afterAll(async () => {
    if (server) await stop(server.child);
    await dropSchema(schema);
  });

  it('app create --json, then the key works over HTTP', async () => {
    const env = {
      DATABASE_URL: postgresUrlWithSchema(process.env.TEST_DATABASE_URL!, schema),
      COFFER_DATA_DIR: tempDir(),
      COFFER_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    const created = await okJson(['app', 'create'], env);
    expect(Object.keys(created).sort()).toEqual(['api_key', 'application_id']);
    server = await serve(['--port', '0'], env);
    expect(server.stdout()).toContain(`schema ${schema}`);
    expect(parseBanner(server.stdout())).toBeNull(); // an application exists already
    const res = await connections(server.url, created.application_id, created.api_key);
    expect(res.status).toBe(200);
    expect(res.body.data.map((c: { service_id: string }) => c.service_id)).toContain('pipedrive');
    expect(fs.existsSync(path.join(env.COFFER_DATA_DIR, 'coffer.db'))).toBe(false);
  });
});
