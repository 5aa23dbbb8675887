import type { Kysely } from 'kysely';
import type { Catalogue } from '../connectors/loader.js';
import type { ConnectorDefinition } from '../connectors/types.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Dialect } from '../store/database.js';
import type { ConnectionRepository } from '../store/connections.js';
import type { Database } from '../store/schema.js';
import type { ChangeFeed } from '../store/change-feed.js';
import type { TenantCache } from './tenant-cache.js';
import type { GuardedClient } from '../outbound/guarded-client.js';

/** Outcome of a connector's verification request with a consumer's credentials. */
export type CredentialCheck = { accepted: true } | { accepted: false; status: number; message: string };

/** Asks the provider whether it accepts these credentials; null when the connector has no verification request. */
export type CredentialVerifier = (def: ConnectorDefinition, settings: Record<string, unknown>, accessToken: string | null) => Promise<CredentialCheck | null>;

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
    /** Tokens are refreshed when they expire within this margin. */
    refreshMarginMs: number;
  };
  /** Set when saved credentials are checked against the provider (COFFER_VERIFY_CREDENTIALS). */
  verifier: CredentialVerifier | null;
  /** The Flows Vault API: where AUTH0 `OAUTH_APP` connections get their tokens (`{domain}` is the setup's). */
  flows: { auth0TokenUrl: string };
  /** The connections repository and its unit of work: every read and change of a connection goes through it. */
  connections: ConnectionRepository;
  /** The one client calls carrying a credential go out on, with the policy of where they may go. */
  outbound: GuardedClient;
}
