import path from 'node:path';

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
  /** Check saved API-key/basic credentials with the connector's verification request. */
  verifyCredentials: boolean;
  /** Longest a proxied provider call may wait for the provider (headers, then each body chunk); `x-apideck-timeout` may shorten it. */
  proxyTimeoutMs: number;
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
  return {
    port,
    host: env.HOST?.trim() || '0.0.0.0',
    publicUrl,
    publicUrlExplicit: Boolean(env.COFFER_PUBLIC_URL),
    dataDir: path.resolve(env.COFFER_DATA_DIR?.trim() || './data'),
    databaseUrl,
    masterKey,
    connectorsDir: env.COFFER_CONNECTORS_DIR?.trim() ? path.resolve(env.COFFER_CONNECTORS_DIR.trim()) : null,
    logLevel,
    corsOrigins,
    refreshMarginSeconds,
    refreshIntervalSeconds,
    refreshStaleDays,
    allowInsecureProviders,
    allowPrivateUpstreams,
    proxyTimeoutMs,
    verifyCredentials: env.COFFER_VERIFY_CREDENTIALS === undefined ? true : flag(env.COFFER_VERIFY_CREDENTIALS, 'COFFER_VERIFY_CREDENTIALS'),
  };
}
