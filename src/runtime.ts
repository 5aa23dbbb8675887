// Opens what both the server and the CLI need: configuration → store (migrated) → keyring → catalogue.
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { loadCatalogue } from './connectors/loader.js';
import { ConnectionRepository } from './store/connections.js';
import { Keyring } from './crypto/keyring.js';
import { loadMasterKey, type LoadedMasterKey } from './crypto/master-key.js';
import { migrate, openStore, type Store } from './store/database.js';
import type { VaultContext } from './vault/context.js';
import { TenantCache } from './vault/tenant-cache.js';
import { verifyCredentials } from './proxy/verify.js';
import { GuardedClient } from './outbound/guarded-client.js';

export interface Runtime {
  config: Config;
  store: Store;
  ctx: VaultContext;
  masterKey: LoadedMasterKey;
  close(): Promise<void>;
}

/** Secrets that must never reach a log line, whatever object they travel in. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.api_key',
  '*.client_secret',
  '*.access_token',
  '*.refresh_token',
  '*.password',
  '*.session_token',
  // Flows Vault setups are write-only secrets as a whole.
  '*.setup',
  '*.secret_key',
  '*.private_key',
];

/** Logs go to stdout unless a destination is given (the fuzzer's server keeps stdout for its ready line). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}

export async function openRuntime(config: Config): Promise<Runtime> {
  // The catalogue loads first: a bad connector file should stop start-up before anything is created.
  const catalogue = loadCatalogue({ userDir: config.connectorsDir ?? undefined, extraHosts: config.providerHosts });
  const masterKey = loadMasterKey({ masterKey: config.masterKey, dataDir: config.dataDir });
  const store = openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    await migrate(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  const keyring = new Keyring(store.db, [masterKey]);
  const ctx: VaultContext = {
    db: store.db,
    dialect: store.dialect,
    keyring,
    catalogue,
    publicUrl: config.publicUrl,
    cache: new TenantCache(store.changes),
    connections: new ConnectionRepository(store.db, store.dialect, keyring, store.changes, config.readModel, store.readConnectionRow),
    changes: store.changes,
    oauth: { refreshMarginMs: config.refreshMarginSeconds * 1000 },
    flows: { auth0TokenUrl: config.flowsAuth0TokenUrl },
    outbound: new GuardedClient(
      { allowPrivateNetworks: config.allowPrivateUpstreams, allowInsecure: config.allowInsecureProviders },
      { connectTimeoutMs: Math.min(10_000, config.proxyTimeoutMs) },
    ),
    verifier: null,
  };
  if (config.verifyCredentials) ctx.verifier = (def, settings, accessToken) => verifyCredentials(ctx, def, settings, accessToken);
  const close = async () => {
    await ctx.outbound.close();
    await store.close();
  };
  return { config, store, ctx, masterKey, close };
}
