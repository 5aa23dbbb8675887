import os from 'node:os';
import path from 'node:path';
import { normalizeHostEntry } from './connectors/url-template.js';

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** False when `publicUrl` was derived from the port (then it follows the port actually bound). */
  publicUrlExplicit: boolean;
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; otherwise SQLite in `dataDir`. */
  databaseUrl: string | null;
  masterKey: string | null;
  connectorsDir: string | null;
  /** Hosts an operator adds to connectors' `hosts` (self-managed instances): connector id → host entries. */
  providerHosts: Record<string, string[]>;
  logLevel: string;
  /** `null` = any origin (session-JWT callers are scoped by the token, not by origin). */
  corsOrigins: string[] | null;
  /** Refresh tokens this long before they expire. */
  refreshMarginSeconds: number;
  /** How often the background refresher looks for tokens about to expire (0 turns it off). */
  refreshIntervalSeconds: number;
  /** Refresh tokens unused this long are exercised so providers with idle expiry do not drop them. */
  refreshStaleDays: number;
  /** Allow OAuth endpoints and provider APIs over plain http (development and tests against a local provider). */
  allowInsecureProviders: boolean;
  /** Allow calls carrying credentials to loopback and private addresses (tests, on-premise providers). */
  allowPrivateUpstreams: boolean;
  /** Token endpoint of AUTH0 `OAUTH_APP` Flows Vault connections; `{domain}` is replaced by the setup's domain. */
  flowsAuth0TokenUrl: string;
  /** Check saved API-key/basic credentials with the connector's verification request. */
  verifyCredentials: boolean;
  /** Longest a proxied provider call may wait for the provider (headers, then each body chunk); `x-apideck-timeout` may shorten it. */
  proxyTimeoutMs: number;
  webhooks: WebhookConfig;
  rateLimits: RateLimitConfig;
  readModel: ReadModelConfig;
  /** Processes serving the port (`node:cluster`); 1 serves from this process alone. */
  workers: number;
}

export const MAX_WORKERS = 64;

/** `COFFER_WORKERS`: a whole number from 1 to MAX_WORKERS, or `auto` for one per available CPU. */
function workerCount(raw: string | undefined): number {
  const text = raw?.trim().toLowerCase();
  if (!text) return 1;
  if (text === 'auto') return Math.min(MAX_WORKERS, os.availableParallelism());
  const count = Number(text);
  if (!/^\d+$/.test(text) || count < 1 || count > MAX_WORKERS) {
    throw new ConfigError(`COFFER_WORKERS must be a whole number from 1 to ${MAX_WORKERS}, or auto (one per CPU), got "${raw}"`);
  }
  return count;
}

/** The in-process read model of connections (store/connection-cache.ts). */
export interface ReadModelConfig {
  /** Connections kept decoded in memory, least recently used dropped first; 0 turns the read model off. */
  maxEntries: number;
  /** Longest a connection stays cached, whatever the change feed says. */
  maxAgeMs: number;
}

/** Below the change feed's log retention (10 min), so no process can miss a change of what it still holds. */
export const MAX_READ_MODEL_AGE_SECONDS = 300;

function readModelConfig(env: NodeJS.ProcessEnv): ReadModelConfig {
  const maxEntries = nonNegativeInteger(env.COFFER_CACHE_ENTRIES, 'COFFER_CACHE_ENTRIES', 10_000);
  const maxAgeSeconds = nonNegativeInteger(env.COFFER_CACHE_TTL_SECONDS, 'COFFER_CACHE_TTL_SECONDS', 60);
  if (maxAgeSeconds > MAX_READ_MODEL_AGE_SECONDS) throw new ConfigError(`COFFER_CACHE_TTL_SECONDS must be at most ${MAX_READ_MODEL_AGE_SECONDS}, got ${maxAgeSeconds}`);
  return { maxEntries, maxAgeMs: maxAgeSeconds * 1000 };
}

/** Limits on failed authentication (counted per instance, in memory); 0 turns a limit off. */
export interface RateLimitConfig {
  /** Failed authentications from one client address per window; past it, that address gets 429s. */
  authFailuresPerIp: number;
  /** Failed authentications naming one application per window; past it, calls for that application get 429s. */
  authFailuresPerApp: number;
  authFailureWindowSeconds: number;
}

export interface WebhookConfig {
  /** Attempts per event and subscription before the subscription is disabled with `retry_limit`. */
  maxAttempts: number;
  /** Wait after the first failed attempt; doubles per attempt up to `backoffMaxMs`. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Per attempt; a receiver slower than this counts as failed (`status_code: 0`). */
  timeoutMs: number;
  /** How often this instance looks for due deliveries (0: this instance does not deliver). */
  pollMs: number;
  /** Allow delivery URLs on loopback and private addresses. */
  allowPrivateNetworks: boolean;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parsePort(raw: string, name: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 0 || port > 65535) throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`);
  return port;
}

function parseHttpUrl(raw: string, name: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

function flag(raw: string | undefined, name: string): boolean {
  const value = raw?.trim().toLowerCase();
  if (!value) return false;
  if (!['true', 'false', '1', '0'].includes(value)) throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  return value === 'true' || value === '1';
}

function nonNegativeInteger(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function webhookConfig(env: NodeJS.ProcessEnv): WebhookConfig {
  const maxAttempts = nonNegativeInteger(env.COFFER_WEBHOOK_MAX_ATTEMPTS, 'COFFER_WEBHOOK_MAX_ATTEMPTS', 10);
  if (maxAttempts < 1) throw new ConfigError('COFFER_WEBHOOK_MAX_ATTEMPTS must be at least 1');
  const backoffMs = nonNegativeInteger(env.COFFER_WEBHOOK_BACKOFF_MS, 'COFFER_WEBHOOK_BACKOFF_MS', 30_000);
  const backoffMaxMs = nonNegativeInteger(env.COFFER_WEBHOOK_BACKOFF_MAX_MS, 'COFFER_WEBHOOK_BACKOFF_MAX_MS', 6 * 3_600_000);
  if (backoffMaxMs < backoffMs) throw new ConfigError('COFFER_WEBHOOK_BACKOFF_MAX_MS must not be below COFFER_WEBHOOK_BACKOFF_MS');
  const timeoutMs = nonNegativeInteger(env.COFFER_WEBHOOK_TIMEOUT_MS, 'COFFER_WEBHOOK_TIMEOUT_MS', 60_000);
  if (timeoutMs < 1) throw new ConfigError('COFFER_WEBHOOK_TIMEOUT_MS must be at least 1');
  return {
    maxAttempts,
    backoffMs,
    backoffMaxMs,
    timeoutMs,
    pollMs: nonNegativeInteger(env.COFFER_WEBHOOK_POLL_MS, 'COFFER_WEBHOOK_POLL_MS', 1_000),
    allowPrivateNetworks: flag(env.COFFER_ALLOW_PRIVATE_WEBHOOKS, 'COFFER_ALLOW_PRIVATE_WEBHOOKS'),
  };
}

/** `gitlab=gitlab.acme.example,gitlab=*.git.acme.example` → { gitlab: [...] }. */
function providerHosts(raw: string | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [connector, host, ...rest] = item.split('=').map((s) => s.trim().toLowerCase());
    let entry: string | null = null;
    try {
      if (connector && host && !rest.length) entry = normalizeHostEntry(host);
    } catch {
      // reported below
    }
    if (!entry) throw new ConfigError(`COFFER_PROVIDER_HOSTS entries look like connector=host or connector=*.domain, got "${item}"`);
    (out[connector] ??= []).push(entry);
  }
  return out;
}

function rateLimitConfig(env: NodeJS.ProcessEnv): RateLimitConfig {
  const authFailureWindowSeconds = nonNegativeInteger(env.COFFER_AUTH_FAILURE_WINDOW_SECONDS, 'COFFER_AUTH_FAILURE_WINDOW_SECONDS', 60);
  if (authFailureWindowSeconds < 1) throw new ConfigError('COFFER_AUTH_FAILURE_WINDOW_SECONDS must be at least 1');
  return {
    authFailuresPerIp: nonNegativeInteger(env.COFFER_AUTH_FAILURE_LIMIT_PER_IP, 'COFFER_AUTH_FAILURE_LIMIT_PER_IP', 30),
    authFailuresPerApp: nonNegativeInteger(env.COFFER_AUTH_FAILURE_LIMIT_PER_APP, 'COFFER_AUTH_FAILURE_LIMIT_PER_APP', 300),
    authFailureWindowSeconds,
  };
}

/** Reads the environment once; any invalid value stops start-up with one clear line. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: { port?: number } = {}): Config {
  const port = overrides.port ?? (env.PORT ? parsePort(env.PORT, 'PORT') : 8080);
  const publicUrl = env.COFFER_PUBLIC_URL ? parseHttpUrl(env.COFFER_PUBLIC_URL, 'COFFER_PUBLIC_URL') : `http://localhost:${port}`;
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql:// (leave it unset for the embedded SQLite store)');
  }
  const masterKey = env.COFFER_MASTER_KEY?.trim() || null;
  if (masterKey && Buffer.from(masterKey, 'base64').length !== 32) {
    throw new ConfigError('COFFER_MASTER_KEY must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)');
  }
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const corsRaw = env.COFFER_CORS_ORIGINS?.trim();
  const corsOrigins = corsRaw && corsRaw !== '*' ? corsRaw.split(',').map((o) => parseHttpUrl(o.trim(), 'COFFER_CORS_ORIGINS')) : null;
  const marginRaw = env.COFFER_REFRESH_MARGIN_SECONDS?.trim();
  const refreshMarginSeconds = marginRaw ? Number(marginRaw) : 300;
  if (!Number.isInteger(refreshMarginSeconds) || refreshMarginSeconds < 0) {
    throw new ConfigError(`COFFER_REFRESH_MARGIN_SECONDS must be a non-negative integer, got "${marginRaw}"`);
  }
  const refreshIntervalSeconds = nonNegativeInteger(env.COFFER_REFRESH_INTERVAL_SECONDS, 'COFFER_REFRESH_INTERVAL_SECONDS', 60);
  const refreshStaleDays = nonNegativeInteger(env.COFFER_REFRESH_STALE_DAYS, 'COFFER_REFRESH_STALE_DAYS', 30);
  const allowInsecureProviders = flag(env.COFFER_ALLOW_INSECURE_PROVIDERS, 'COFFER_ALLOW_INSECURE_PROVIDERS');
  const proxyTimeoutMs = nonNegativeInteger(env.COFFER_PROXY_TIMEOUT_MS, 'COFFER_PROXY_TIMEOUT_MS', 30_000);
  if (proxyTimeoutMs === 0) throw new ConfigError('COFFER_PROXY_TIMEOUT_MS must be a positive number of milliseconds');
  const allowPrivateUpstreams = flag(env.COFFER_ALLOW_PRIVATE_UPSTREAMS, 'COFFER_ALLOW_PRIVATE_UPSTREAMS');
  const flowsAuth0TokenUrl = env.COFFER_FLOWS_AUTH0_TOKEN_URL?.trim()
    ? parseHttpUrl(env.COFFER_FLOWS_AUTH0_TOKEN_URL.trim(), 'COFFER_FLOWS_AUTH0_TOKEN_URL')
    : 'https://{domain}/oauth/token';
  return {
    port,
    host: env.HOST?.trim() || '0.0.0.0',
    publicUrl,
    publicUrlExplicit: Boolean(env.COFFER_PUBLIC_URL),
    dataDir: path.resolve(env.COFFER_DATA_DIR?.trim() || './data'),
    databaseUrl,
    masterKey,
    connectorsDir: env.COFFER_CONNECTORS_DIR?.trim() ? path.resolve(env.COFFER_CONNECTORS_DIR.trim()) : null,
    providerHosts: providerHosts(env.COFFER_PROVIDER_HOSTS),
    logLevel,
    corsOrigins,
    refreshMarginSeconds,
    refreshIntervalSeconds,
    refreshStaleDays,
    allowInsecureProviders,
    allowPrivateUpstreams,
    flowsAuth0TokenUrl,
    proxyTimeoutMs,
    verifyCredentials: env.COFFER_VERIFY_CREDENTIALS === undefined ? true : flag(env.COFFER_VERIFY_CREDENTIALS, 'COFFER_VERIFY_CREDENTIALS'),
    webhooks: webhookConfig(env),
    rateLimits: rateLimitConfig(env),
    readModel: readModelConfig(env),
    workers: workerCount(env.COFFER_WORKERS),
  };
}
