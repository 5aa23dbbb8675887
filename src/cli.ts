#!/usr/bin/env node
// `coffer`: serve, migrate, app, key, connector. Thin: parses arguments and calls vault/.
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { reportListening, superviseWorkers } from './cluster.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { ConnectorDefinitionError, loadCatalogue, loadConnectorDir } from './connectors/loader.js';
import type { ConnectorDefinition } from './connectors/types.js';
import { createLogger, openRuntime, type Runtime } from './runtime.js';
import {
  countApplications,
  createApiKey,
  createApplication,
  listApiKeys,
  listAppConnectors,
  MAX_REQUESTS_PER_MINUTE,
  revokeApiKey,
  setConnectorEnabled,
  setProxyAllowedHosts,
  setRedirectUris,
  setRequestRateLimit,
} from './vault/applications.js';
import { VaultError } from './vault/errors.js';
import { normalizeHostEntry } from './connectors/url-template.js';
import { createWebhook, deleteWebhook, listWebhooks, rotateWebhookSecret } from './events/subscriptions.js';
import { redeliverEvent } from './events/delivery-log.js';
import { FlowsError } from './flows/errors.js';
import { FLOWS_SCOPES, issueManagementToken } from './flows/management-token.js';
import { applicationExists } from './vault/applications.js';

class UsageError extends Error {}

const USAGE = `Usage: coffer <command> [options]

  serve [--port N]                         start the API server (what \`npm start\` runs)
  migrate                                  apply database migrations
  app create [--id ID] [--name NAME] [--no-connectors]
  app set --app ID [--redirect-uris "https://a,https://b"] [--proxy-hosts "api.a.com,*.b.com"]
                  [--rate-limit N|off]     requests per minute for the application (off: no limit)
  key create|list --app ID
  key revoke KEY_ID --app ID
  connector list [--app ID]                the catalogue, or what an application enabled
  connector show SERVICE_ID                one connector's definition
  connector enable|disable SERVICE_ID --app ID [--client-id X --client-secret Y --scopes "a b"]
  connector check DIR                      validate connector files without starting
  webhook add --app ID --url URL [--events "vault.connection.created,…"] [--unified-api vault] [--description TEXT]
  webhook list --app ID
  webhook remove|rotate-secret WEBHOOK_ID --app ID
  webhook redeliver EVENT_ID --app ID       send an event again to the subscriptions that take it
  flows token --app ID --scopes "read:flows_vault_connections …" [--ttl SECONDS]
                                           a Management API token for the Flows Vault API (/api/v2), printed once;
                                           scopes: ${FLOWS_SCOPES.join(' ')}

Every command takes --json for machine-readable output. Storage is chosen as for the server:
DATABASE_URL=postgres://… or SQLite under COFFER_DATA_DIR (default ./data).`;

const OPTIONS = {
  json: { type: 'boolean' },
  port: { type: 'string' },
  id: { type: 'string' },
  name: { type: 'string' },
  app: { type: 'string' },
  'no-connectors': { type: 'boolean' },
  'redirect-uris': { type: 'string' },
  'proxy-hosts': { type: 'string' },
  'rate-limit': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  scopes: { type: 'string' },
  url: { type: 'string' },
  events: { type: 'string' },
  'unified-api': { type: 'string' },
  description: { type: 'string' },
  ttl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function need(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

function print(json: boolean, data: unknown, human: string): void {
  process.stdout.write(json ? JSON.stringify(data) + '\n' : human + '\n');
}

async function withRuntime<T>(fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(loadConfig());
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

async function serve(values: Values): Promise<void> {
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError('--port must be a port number');
  const config = loadConfig(process.env, { port });
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) return serveWithWorkers(config, logger);
  const runtime = await openRuntime(config);
  // Workers leave first-start work to the primary, which did it before forking them.
  const firstStart = cluster.isWorker ? null : await prepareFirstStart(runtime);
  // Loaded here: the HTTP stack is a third of the start-up time of every other command.
  const { startServer } = await import('./server.js');
  const server = await startServer(runtime, cluster.isWorker ? logger.child({ worker: cluster.worker!.id }) : logger, { port: config.port, host: config.host });
  if (firstStart) process.stdout.write(startupBanner(runtime.ctx.publicUrl, firstStart));
  else reportListening(runtime.ctx.publicUrl);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // A worker whose primary is gone stops too, rather than serving on unsupervised.
  if (cluster.isWorker) process.once('disconnect', shutdown);
}

interface FirstStart {
  store: string;
  masterKey: { created: boolean; file: string | null };
  created: { application_id: string; api_key: string } | null;
}

/** The master key (created by openRuntime when none exists) and, on an empty database, the first application. */
async function prepareFirstStart(runtime: Runtime): Promise<FirstStart> {
  let created: FirstStart['created'] = null;
  if ((await countApplications(runtime.ctx)) === 0) created = await createApplication(runtime.ctx, { name: 'Default application' });
  return { store: runtime.store.description, masterKey: { created: runtime.masterKey.created, file: runtime.masterKey.file ?? null }, created };
}

/** The primary of `COFFER_WORKERS` > 1: first-start work once, then workers; one banner when the first one listens. */
async function serveWithWorkers(config: Config, logger: Logger): Promise<void> {
  const runtime = await openRuntime(config);
  let firstStart: FirstStart;
  try {
    firstStart = await prepareFirstStart(runtime);
  } finally {
    await runtime.close();
  }
  superviseWorkers({
    workers: config.workers,
    logger: logger.child({ worker: 'primary' }),
    onListening: (publicUrl) => process.stdout.write(startupBanner(publicUrl, firstStart, config.workers)),
  });
}

function startupBanner(publicUrl: string, { store, masterKey, created }: FirstStart, workers = 1): string {
  const lines = [`Coffer is listening on ${publicUrl} (${store})${workers > 1 ? ` with ${workers} workers` : ''}`];
  if (masterKey.created) {
    lines.push(
      '',
      `WARNING: created a master key in ${masterKey.file} (mode 0600). It encrypts every stored credential:`,
      '         back it up. In production set COFFER_MASTER_KEY (or load it from a KMS) instead.',
    );
  }
  if (created) {
    lines.push(
      '',
      'Created the first application, with every catalogue connector enabled:',
      `  Application id: ${created.application_id}`,
      `  API key:        ${created.api_key}`,
      '  (the key is shown once; keep it somewhere safe, or make another with `npx coffer key create --app <id>`)',
      '',
      'Try it:',
      `  curl -H "Authorization: Bearer ${created.api_key}" -H "x-apideck-app-id: ${created.application_id}" -H "x-apideck-consumer-id: test-consumer" ${publicUrl}/vault/connections`,
    );
  }
  lines.push(`API reference: ${publicUrl}/docs`);
  return lines.join('\n') + '\n';
}

/** `--rate-limit`: a whole number of requests per minute; 0 or "off" clears the limit (null). */
function requestsPerMinute(raw: string): number | null {
  const text = raw.trim().toLowerCase();
  if (text === 'off') return null;
  if (!/^\d+$/.test(text) || Number(text) > MAX_REQUESTS_PER_MINUTE) {
    throw new UsageError(`--rate-limit must be a whole number of requests per minute from 1 to ${MAX_REQUESTS_PER_MINUTE}, or 0/off for none`);
  }
  return Number(text) || null;
}

async function app(sub: string | undefined, values: Values): Promise<void> {
  const json = Boolean(values.json);
  if (sub === 'create') {
    const created = await withRuntime((rt) => createApplication(rt.ctx, { id: values.id, name: values.name, enableConnectors: !values['no-connectors'] }));
    // Exactly the documented line, `{"application_id": "...", "api_key": "..."}`, for scripts that match it as text.
    const line = `{"application_id": ${JSON.stringify(created.application_id)}, "api_key": ${JSON.stringify(created.api_key)}}`;
    process.stdout.write(json ? line + '\n' : `Application id: ${created.application_id}\nAPI key:        ${created.api_key}\n(the key is shown once)\n`);
    return;
  }
  if (sub === 'set') {
    const appId = need(values.app, '--app');
    const rawUris = values['redirect-uris'];
    const rawHosts = values['proxy-hosts'];
    const rawLimit = values['rate-limit'];
    if (rawUris === undefined && rawHosts === undefined && rawLimit === undefined) {
      throw new UsageError('app set needs --redirect-uris, --proxy-hosts or --rate-limit');
    }
    const list = (raw: string) => raw.split(',').map((u) => u.trim()).filter(Boolean);
    const out: Record<string, unknown> = { application_id: appId };
    const lines: string[] = [];
    // Everything is checked before anything is stored.
    if (rawHosts !== undefined) list(rawHosts).forEach(normalizeHostEntry);
    const limit = rawLimit === undefined ? undefined : requestsPerMinute(rawLimit);
    await withRuntime(async (rt) => {
      if (rawUris !== undefined) {
        out.redirect_uris = await setRedirectUris(rt.ctx, appId, list(rawUris));
        lines.push(`Redirect URIs of ${appId}: ${(out.redirect_uris as string[]).join(', ') || '(none)'}`);
      }
      if (rawHosts !== undefined) {
        out.proxy_allowed_hosts = await setProxyAllowedHosts(rt.ctx, appId, list(rawHosts));
        lines.push(`Proxy hosts of ${appId}: ${(out.proxy_allowed_hosts as string[]).join(', ') || '(none besides each connector API host)'}`);
      }
      if (limit !== undefined) {
        out.rate_limit_per_minute = await setRequestRateLimit(rt.ctx, appId, limit);
        lines.push(`Rate limit of ${appId}: ${limit === null ? 'none' : `${limit} requests per minute`}`);
      }
    });
    print(json, out, lines.join('\n'));
    return;
  }
  throw new UsageError('app takes create or set');
}

async function key(sub: string | undefined, positionals: string[], values: Values): Promise<void> {
  const json = Boolean(values.json);
  const appId = need(values.app, '--app');
  if (sub === 'create') {
    const created = await withRuntime((rt) => createApiKey(rt.ctx, appId));
    print(json, created, `Key id:  ${created.id}\nAPI key: ${created.api_key}\n(the key is shown once)`);
  } else if (sub === 'list') {
    const keys = await withRuntime((rt) => listApiKeys(rt.ctx, appId));
    print(json, keys, keys.map((k) => `${k.id}  …${k.last4}  created ${k.created_at}${k.revoked_at ? `  revoked ${k.revoked_at}` : ''}`).join('\n') || '(no keys)');
  } else if (sub === 'revoke') {
    const keyId = positionals[0] ?? values.id;
    if (!keyId) throw new UsageError('key revoke needs the key id (see `coffer key list`)');
    await withRuntime((rt) => revokeApiKey(rt.ctx, appId, keyId));
    print(json, { id: keyId, revoked: true }, `Revoked ${keyId}`);
  } else {
    throw new UsageError('key takes create, list or revoke');
  }
}

async function connector(sub: string | undefined, positionals: string[], values: Values): Promise<void> {
  const json = Boolean(values.json);
  if (sub === 'check') {
    const dir = positionals[0];
    if (!dir) throw new UsageError('connector check needs a directory');
    const defs = loadConnectorDir(dir);
    print(json, { valid: true, connectors: defs.map((d) => d.id) }, `${defs.length} connector file(s) valid: ${defs.map((d) => d.id).join(', ')}`);
    return;
  }
  if ((sub === 'list' && !values.app) || sub === 'show') {
    // The catalogue itself: no storage needed.
    const catalogue = loadCatalogue({ userDir: loadConfig().connectorsDir ?? undefined });
    if (sub === 'show') {
      const def = catalogue.get(positionals[0] ?? '');
      if (!def) throw new UsageError(`no connector "${positionals[0] ?? ''}" in the catalogue (see coffer connector list)`);
      const { source, ...definition } = def;
      print(json, definition, describeConnector(def));
      return;
    }
    const rows = catalogue.all().map((d) => ({ id: d.id, name: d.name, unified_apis: d.unified_apis, auth_type: d.auth_type, oauth_grant_type: d.oauth?.grant_type ?? null }));
    print(json, rows, rows.map((r) => `${r.id.padEnd(32)} ${r.auth_type.padEnd(7)} ${(r.oauth_grant_type ?? '').padEnd(19)} ${r.unified_apis.join(', ')}`).join('\n'));
    return;
  }
  const appId = need(values.app, '--app');
  if (sub === 'list') {
    const list = await withRuntime((rt) => listAppConnectors(rt.ctx, appId));
    print(
      json,
      list,
      list.map((c) => `${c.enabled ? 'enabled ' : 'disabled'}  ${c.service_id.padEnd(20)} ${c.auth_type.padEnd(7)} ${c.client_id_configured ? 'oauth client set' : ''}`).join('\n'),
    );
    return;
  }
  if (sub === 'enable' || sub === 'disable') {
    const serviceId = positionals[0];
    if (!serviceId) throw new UsageError(`connector ${sub} needs a SERVICE_ID`);
    await withRuntime((rt) =>
      setConnectorEnabled(rt.ctx, appId, serviceId, sub === 'enable', {
        clientId: values['client-id'],
        clientSecret: values['client-secret'],
        scopes: values.scopes?.split(/[\s,]+/).filter(Boolean),
      }),
    );
    print(json, { application_id: appId, service_id: serviceId, enabled: sub === 'enable' }, `${sub === 'enable' ? 'Enabled' : 'Disabled'} ${serviceId} for ${appId}`);
    return;
  }
  throw new UsageError('connector takes list, enable, disable or check');
}

async function webhook(sub: string | undefined, positionals: string[], values: Values): Promise<void> {
  const json = Boolean(values.json);
  const appId = need(values.app, '--app');
  if (sub === 'add') {
    const created = await withRuntime((rt) =>
      createWebhook(
        rt.ctx,
        appId,
        {
          delivery_url: need(values.url, '--url'),
          events: (values.events ?? '*').split(/[\s,]+/).filter(Boolean),
          unified_api: values['unified-api'] ?? 'vault',
          description: values.description ?? null,
        },
        null,
        { allowPrivateNetworks: rt.config.webhooks.allowPrivateNetworks },
      ),
    );
    print(
      json,
      { ...created.webhook, secret: created.secret },
      [
        `Webhook ${created.webhook.id} → ${created.webhook.delivery_url} (${created.webhook.events.join(', ')})`,
        `Signing secret (Standard Webhooks, shown once): ${created.secret}`,
        'x-apideck-signature on its deliveries is keyed with that secret too (subscribe through the API to key it with an API key).',
      ].join('\n'),
    );
    return;
  }
  if (sub === 'list') {
    const page = await withRuntime((rt) => listWebhooks(rt.ctx, appId, { limit: 200 }));
    print(
      json,
      page.data,
      page.data.length === 0
        ? 'No webhooks'
        : page.data.map((w) => `${w.id}  ${w.status.padEnd(8)} ${w.disabled_reason === 'none' ? '' : `(${w.disabled_reason}) `}${w.delivery_url}  ${w.events.join(',')}`).join('\n'),
    );
    return;
  }
  const target = positionals[0];
  if (sub === 'remove') {
    if (!target) throw new UsageError('webhook remove needs a WEBHOOK_ID');
    const removed = await withRuntime((rt) => deleteWebhook(rt.ctx, appId, target));
    print(json, removed, `Removed webhook ${removed.id}`);
    return;
  }
  if (sub === 'rotate-secret') {
    if (!target) throw new UsageError('webhook rotate-secret needs a WEBHOOK_ID');
    const rotated = await withRuntime((rt) => rotateWebhookSecret(rt.ctx, appId, target));
    print(json, { id: rotated.webhook.id, secret: rotated.secret }, `New signing secret for ${rotated.webhook.id}: ${rotated.secret}\n(the previous secret keeps signing alongside it for 24 hours)`);
    return;
  }
  if (sub === 'redeliver') {
    if (!target) throw new UsageError('webhook redeliver needs an EVENT_ID');
    const webhooks = await withRuntime((rt) => redeliverEvent(rt.ctx, appId, target));
    print(
      json,
      { event_id: target, webhooks },
      webhooks.length === 0 ? `No enabled webhook takes event ${target}` : `Queued event ${target} for ${webhooks.join(', ')}; a running server delivers it`,
    );
    return;
  }
  throw new UsageError('webhook takes add, list, remove, rotate-secret or redeliver');
}

async function flows(sub: string | undefined, values: Values): Promise<void> {
  if (sub !== 'token') throw new UsageError('flows takes token');
  const appId = need(values.app, '--app');
  const scopes = need(values.scopes, '--scopes').split(/[\s,]+/).filter(Boolean);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !/^\d+$/.test(values.ttl!)) throw new UsageError('--ttl must be a number of seconds');
  const issued = await withRuntime(async (rt) => {
    if (!(await applicationExists(rt.ctx, appId))) throw new UsageError(`no application ${appId} (see coffer app create)`);
    return issueManagementToken(rt.ctx, appId, scopes, ttl);
  });
  // The token alone on stdout, so `TOKEN=$(coffer flows token …)` works.
  print(Boolean(values.json), issued, issued.access_token);
}

function describeConnector(def: ConnectorDefinition): string {
  const lines = [
    `${def.name} (${def.id}) — ${def.tag_line || def.website}`,
    `  unified APIs: ${def.unified_apis.join(', ')}`,
    `  auth:         ${def.auth_type}${def.oauth ? ` (${def.oauth.grant_type})` : ''}`,
  ];
  if (def.oauth?.authorization_url) lines.push(`  authorize:    ${def.oauth.authorization_url}`);
  if (def.oauth) lines.push(`  token:        ${def.oauth.token_url}`, `  scopes:       ${def.oauth.scopes.join(def.oauth.scope_separator) || '(none)'}`);
  if (def.proxy) lines.push(`  API base URL: ${def.proxy.base_url} (${def.proxy.auth.type})`);
  for (const f of def.form_fields) lines.push(`  setting ${f.id}: ${f.label} [${f.type}${f.required ? ', required' : ''}${f.sensitive ? ', sensitive' : ''}]`);
  lines.push(`  defined in:   ${def.source}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  switch (command) {
    case 'serve':
      return serve(values);
    case 'migrate': {
      const names = await withRuntime(async (rt) => rt.store.description);
      print(Boolean(values.json), { migrated: true, store: names }, `Database is up to date (${names})`);
      return;
    }
    case 'app':
      return app(sub, values);
    case 'key':
      return key(sub, rest, values);
    case 'connector':
      return connector(sub, rest, values);
    case 'webhook':
      return webhook(sub, rest, values);
    case 'flows':
      return flows(sub, values);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof UsageError || error instanceof ConfigError || error instanceof ConnectorDefinitionError || error instanceof VaultError || error instanceof FlowsError;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const line =
    known ? message
    : code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? message.split('\n')[0]
    : code === 'EADDRINUSE' ? `port already in use (${message})`
    : code === 'ECONNREFUSED' ? `cannot reach the database (${message})`
    : `unexpected error: ${message.split('\n')[0]}`;
  process.stderr.write(`coffer: ${line}\n`);
  if (!known && process.env.LOG_LEVEL === 'debug') console.error(error);
  process.exit(1);
});
