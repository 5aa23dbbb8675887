// Table shapes as kysely sees them. JSON columns hold TEXT in SQLite and JSONB in PostgreSQL;
// booleans are integers 0/1 in both; times are epoch milliseconds.
import type { ColumnType, Generated } from 'kysely';

type Json = ColumnType<unknown, string, string>;
type NullableJson = ColumnType<unknown | null, string | null, string | null>;

export interface ApplicationsTable {
  id: string;
  name: string;
  redirect_uris: Json;
  /** Hosts (besides each connector's own API host) the proxy may send this application's credentials to; null = none. */
  proxy_allowed_hosts: NullableJson;
  /** Requests per minute this application may make (API keys and sessions together); null = no limit. */
  rate_limit_per_minute: number | null;
  created_at: number;
  updated_at: number;
}

export interface DataKeysTable {
  id: string;
  application_id: string;
  master_key_id: string;
  wrapped: string;
  active: number;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  application_id: string;
  key_hash: string;
  last4: string;
  created_at: number;
  revoked_at: number | null;
}

export interface AppConnectorsTable {
  application_id: string;
  service_id: string;
  enabled: number;
  /** Sealed JSON `{client_id, client_secret}`. */
  client_sealed: string | null;
  scopes: string | null;
  created_at: number;
  updated_at: number;
}

export interface ConsumersTable {
  application_id: string;
  consumer_id: string;
  metadata: Json;
  /** Lower-cased consumer id, email, account and user name: what `filter[search]` looks in. */
  search_text: string;
  request_count_unify: number;
  request_count_proxy: number;
  request_count_vault: number;
  request_count_updated: number | null;
  created_at: number;
  updated_at: number;
}

export interface ConnectionsTable {
  id: string;
  application_id: string;
  consumer_id: string;
  service_id: string;
  unified_api: string;
  enabled: number;
  /** Non-sensitive settings in clear; sensitive ones live sealed in `secrets`. */
  settings: Json;
  secrets: string | null;
  /** Sealed JSON token set `{access_token, refresh_token, token_type, scope}`. */
  credentials: string | null;
  token_expires_at: number | null;
  /** `ok` | `invalid` | `revoked` — what the last check of the credentials said. */
  auth_status: string;
  auth_error: string | null;
  confirmed: number;
  metadata: NullableJson;
  configuration: Json;
  consent_state: string;
  data_scopes: NullableJson;
  credentials_expire_at: number | null;
  last_refresh_failed_at: number | null;
  last_downstream_error_at: number | null;
  /** The process refreshing the token now (see oauth/refresh.ts); not part of the versioned record. */
  refresh_lease_owner: string | null;
  refresh_lease_until: number | null;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface ConsentsTable {
  id: string;
  application_id: string;
  consumer_id: string;
  service_id: string;
  granted: number;
  resources: Json;
  created_at: number;
}

export interface CustomMappingsTable {
  application_id: string;
  consumer_id: string;
  unified_api: string;
  service_id: string;
  target_field_id: string;
  value: string;
  created_at: number;
  updated_at: number;
}

export interface CallbackStatesTable {
  state: string;
  application_id: string;
  consumer_id: string;
  unified_api: string;
  service_id: string;
  redirect_uri: string;
  expires_at: number;
  created_at: number;
}

export interface RequestLogsTable {
  /** UUIDv7, so ordering by id is ordering by time. */
  id: string;
  application_id: string;
  consumer_id: string;
  unified_api: string;
  service_id: string;
  service_name: string;
  operation_id: string;
  operation_name: string;
  http_method: string;
  path: string;
  base_url: string;
  status_code: number;
  success: number;
  duration: number;
  execution: number;
  latency: number;
  error_message: string | null;
  source_ip: string | null;
  sandbox: number;
  created_at: number;
}

/** The columns of a log row, in the order the hand-written statements that append logs bind them. */
export const REQUEST_LOG_COLUMNS = [
  'id', 'application_id', 'consumer_id', 'unified_api', 'service_id', 'service_name', 'operation_id', 'operation_name',
  'http_method', 'path', 'base_url', 'status_code', 'success', 'duration', 'execution', 'latency', 'error_message',
  'source_ip', 'sandbox', 'created_at',
] as const satisfies ReadonlyArray<keyof RequestLogsTable>;

export interface OutboxTable {
  id: string;
  application_id: string;
  event_type: string;
  consumer_id: string;
  service_id: string;
  payload: Json;
  attempts: Generated<number>;
  next_attempt_at: number;
  delivered_at: number | null;
  created_at: number;
}

export interface OAuthFlowsTable {
  /** Random; sent to the provider as `state`. */
  id: string;
  application_id: string;
  consumer_id: string;
  service_id: string;
  unified_api: string;
  /** Sealed: the Hosted Vault's return URL holds its session token. */
  redirect_uri: string;
  /** Sealed PKCE verifier; null when the connector disables PKCE. */
  code_verifier: string | null;
  /** The caller's `nonce`: its presence asks for the confirm step. */
  nonce: string | null;
  scope: string | null;
  /** SHA-256 (hex) of the value in the browser's binding cookie; null when the flow may complete in any browser. */
  browser_binding: string | null;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface OAuthStateUsesTable {
  jti: string;
  application_id: string;
  expires_at: number;
  used_at: number;
}

export interface ConfirmTokensTable {
  token_hash: string;
  application_id: string;
  consumer_id: string;
  service_id: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface WebhooksTable {
  id: string;
  application_id: string;
  description: string | null;
  unified_api: string;
  status: 'enabled' | 'disabled';
  disabled_reason: string;
  delivery_url: string;
  events: Json;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: number | null;
  /** The API key that subscribed, sealed: Apideck's `x-apideck-signature` is keyed with it. */
  signing_key_sealed: string | null;
  created_at: number;
  updated_at: number;
}

export interface FlowsVaultConnectionsTable {
  /** `ac_` + 22 base62 characters, as Auth0's. */
  id: string;
  application_id: string;
  /** Auth0's app identifier (HTTP, SLACK, …), not a Coffer application. */
  app_id: string;
  name: string;
  /** `setup.type`; null for an uninitialised connection. */
  setup_type: string | null;
  /** Sealed JSON of the whole `setup`. */
  setup: string | null;
  /** Derived, masked display label (never a whole secret). */
  account_name: string | null;
  /** Sealed JSON `{access_token, token_type, scope}` for OAuth setups. */
  tokens: string | null;
  token_expires_at: number | null;
  refreshed_at: number | null;
  fingerprint: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  application_id: string;
  webhook_id: string;
  event_id: string;
  status: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attempts: number;
  next_attempt_at: number;
  last_status_code: number | null;
  delivered_at: number | null;
  created_at: number;
}

export interface WebhookAttemptsTable {
  id: string;
  application_id: string;
  delivery_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  consumer_id: string;
  service_id: string;
  unified_api: string;
  endpoint: string;
  execution_attempt: number;
  status_code: number;
  success: number;
  retry_scheduled: number;
  request_body: string;
  response_body: string | null;
  duration_ms: number;
  created_at: number;
}

/** SQLite's change feed (store/change-feed.ts): one row per committed change other processes must hear of. */
export interface ChangeLogTable {
  seq: Generated<number>;
  application_id: string;
  consumer_id: string | null;
  service_id: string | null;
  at: number;
}

export interface Database {
  change_log: ChangeLogTable;
  applications: ApplicationsTable;
  data_keys: DataKeysTable;
  api_keys: ApiKeysTable;
  app_connectors: AppConnectorsTable;
  consumers: ConsumersTable;
  connections: ConnectionsTable;
  consents: ConsentsTable;
  custom_mappings: CustomMappingsTable;
  callback_states: CallbackStatesTable;
  request_logs: RequestLogsTable;
  outbox: OutboxTable;
  oauth_flows: OAuthFlowsTable;
  oauth_state_uses: OAuthStateUsesTable;
  confirm_tokens: ConfirmTokensTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  flows_vault_connections: FlowsVaultConnectionsTable;
}
