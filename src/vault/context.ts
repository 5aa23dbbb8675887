import type { Kysely } from 'kysely';
import type { Catalogue } from '../connectors/loader.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Dialect } from '../store/database.js';
import type { Database } from '../store/schema.js';
import type { ChangeFeed } from '../store/change-feed.js';
import type { TenantCache } from './tenant-cache.js';

/** Everything the domain needs; built once at start-up and passed down. */
export interface VaultContext {
  db: Kysely<Database>;
  dialect: Dialect;
  keyring: Keyring;
  catalogue: Catalogue;
  publicUrl: string;
  cache: TenantCache;
  changes: ChangeFeed;
  oauth: {
    /** OAuth endpoints over plain http are refused unless this is set. */
    allowInsecureProviders: boolean;
    /** Tokens are refreshed when they expire within this margin. */
    refreshMarginMs: number;
  };
}
