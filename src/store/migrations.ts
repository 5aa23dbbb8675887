// One migration set for both dialects; only the JSON and float column types differ.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './database.js';

function columnTypes(dialect: Dialect) {
  return {
    json: dialect === 'postgres' ? sql`jsonb` : sql`text`,
    float: dialect === 'postgres' ? sql`double precision` : sql`real`,
  };
}

function initial(dialect: Dialect): Migration {
  const t = columnTypes(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('applications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('redirect_uris', t.json, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('data_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('master_key_id', 'text', (c) => c.notNull())
        .addColumn('wrapped', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('data_keys_app').on('data_keys').columns(['application_id']).execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('last4', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();

      await db.schema
        .createTable('app_connectors')
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('client_sealed', 'text')
        .addColumn('scopes', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('app_connectors_pk', ['application_id', 'service_id'])
        .execute();

      await db.schema
        .createTable('consumers')
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('metadata', t.json, (c) => c.notNull())
        .addColumn('search_text', 'text', (c) => c.notNull())
        .addColumn('request_count_unify', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('request_count_proxy', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('request_count_vault', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('request_count_updated', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('consumers_pk', ['application_id', 'consumer_id'])
        .execute();

      await db.schema
        .createTable('connections')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('settings', t.json, (c) => c.notNull())
        .addColumn('secrets', 'text')
        .addColumn('credentials', 'text')
        .addColumn('token_expires_at', 'bigint')
        .addColumn('auth_status', 'text', (c) => c.notNull())
        .addColumn('auth_error', 'text')
        .addColumn('confirmed', 'integer', (c) => c.notNull())
        .addColumn('metadata', t.json)
        .addColumn('configuration', t.json, (c) => c.notNull())
        .addColumn('consent_state', 'text', (c) => c.notNull())
        .addColumn('data_scopes', t.json)
        .addColumn('credentials_expire_at', 'bigint')
        .addColumn('last_refresh_failed_at', 'bigint')
        .addColumn('last_downstream_error_at', 'bigint')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('connections_consumer_fk', ['application_id', 'consumer_id'], 'consumers', ['application_id', 'consumer_id'], (fk) => fk.onDelete('cascade'))
        .addUniqueConstraint('connections_owner_service', ['application_id', 'consumer_id', 'service_id'])
        .execute();

      await db.schema
        .createTable('consents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('granted', 'integer', (c) => c.notNull())
        .addColumn('resources', t.json, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint('consents_consumer_fk', ['application_id', 'consumer_id'], 'consumers', ['application_id', 'consumer_id'], (fk) => fk.onDelete('cascade'))
        .execute();
      await db.schema.createIndex('consents_owner').on('consents').columns(['application_id', 'consumer_id', 'service_id']).execute();

      await db.schema
        .createTable('custom_mappings')
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('target_field_id', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('custom_mappings_pk', ['application_id', 'consumer_id', 'unified_api', 'service_id', 'target_field_id'])
        .addForeignKeyConstraint('custom_mappings_consumer_fk', ['application_id', 'consumer_id'], 'consumers', ['application_id', 'consumer_id'], (fk) => fk.onDelete('cascade'))
        .execute();

      await db.schema
        .createTable('callback_states')
        .addColumn('state', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('redirect_uri', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('request_logs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('service_name', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('operation_name', 'text', (c) => c.notNull())
        .addColumn('http_method', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('base_url', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer', (c) => c.notNull())
        .addColumn('success', 'integer', (c) => c.notNull())
        .addColumn('duration', t.float, (c) => c.notNull())
        .addColumn('execution', 'integer', (c) => c.notNull())
        .addColumn('latency', t.float, (c) => c.notNull())
        .addColumn('error_message', 'text')
        .addColumn('source_ip', 'text')
        .addColumn('sandbox', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('request_logs_owner').on('request_logs').columns(['application_id', 'consumer_id', 'id']).execute();

      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('payload', t.json, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('outbox_pending').on('outbox').columns(['delivered_at', 'next_attempt_at']).execute();
    },
  };
}

/** The OAuth engine: authorization flows in progress, used states and confirm tokens. */
function oauth(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('oauth_flows')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('redirect_uri', 'text', (c) => c.notNull())
        .addColumn('code_verifier', 'text')
        .addColumn('nonce', 'text')
        .addColumn('scope', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('oauth_state_uses')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('confirm_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('connections_token_expiry').on('connections').columns(['token_expires_at']).execute();
    },
  };
}

/** Webhook subscriptions, one delivery row per (event, subscription) and one log row per attempt. */
function webhooks(dialect: Dialect): Migration {
  const t = columnTypes(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('description', 'text')
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('disabled_reason', 'text', (c) => c.notNull())
        .addColumn('delivery_url', 'text', (c) => c.notNull())
        .addColumn('events', t.json, (c) => c.notNull())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('previous_secret_sealed', 'text')
        .addColumn('previous_secret_expires_at', 'bigint')
        .addColumn('signing_key_sealed', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhooks_app').on('webhooks').columns(['application_id']).execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_status_code', 'integer')
        .addColumn('delivered_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('webhook_deliveries_once', ['webhook_id', 'event_id'])
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').columns(['application_id', 'event_id']).execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text', (c) => c.notNull())
        .addColumn('service_id', 'text', (c) => c.notNull())
        .addColumn('unified_api', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('execution_attempt', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer', (c) => c.notNull())
        .addColumn('success', 'integer', (c) => c.notNull())
        .addColumn('retry_scheduled', 'integer', (c) => c.notNull())
        .addColumn('request_body', 'text', (c) => c.notNull())
        .addColumn('response_body', 'text')
        .addColumn('duration_ms', t.float, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_attempts_app').on('webhook_attempts').columns(['application_id', 'id']).execute();
      await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id']).execute();
    },
  };
}

/** Auth0 Flows Vault connections: one row per connection, its whole `setup` and any OAuth tokens sealed. */
function flowsVault(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('flows_vault_connections')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('app_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('setup_type', 'text')
        .addColumn('setup', 'text')
        .addColumn('account_name', 'text')
        .addColumn('tokens', 'text')
        .addColumn('token_expires_at', 'bigint')
        .addColumn('refreshed_at', 'bigint')
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('flows_vault_connections_app').on('flows_vault_connections').columns(['application_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('flows_vault_connections_token_expiry').on('flows_vault_connections').columns(['token_expires_at']).execute();
    },
  };
}

/** The proxy: each application's own list of hosts its consumers' credentials may be sent to. */
function proxy(dialect: Dialect): Migration {
  const t = columnTypes(dialect);
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('applications').addColumn('proxy_allowed_hosts', t.json).execute();
    },
  };
}

/** Rate limits: an application's own ceiling on requests per minute; null = no limit. */
function rateLimits(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('applications').addColumn('rate_limit_per_minute', 'integer').execute();
    },
  };
}

/** The browser an OAuth flow was started in: the SHA-256 of its cookie value (null when the flow is not bound). */
function oauthBrowserBinding(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('oauth_flows').addColumn('browser_binding', 'text').execute();
    },
  };
}

/**
 * The refresh lease: which process may call the provider to refresh this connection's token, and until when. Taken
 * with a conditional UPDATE, so no transaction or pooled connection is held while the provider answers.
 */
function refreshLease(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('connections').addColumn('refresh_lease_owner', 'text').execute();
      await db.schema.alterTable('connections').addColumn('refresh_lease_until', 'bigint').execute();
    },
  };
}

/**
 * The change feed's log (SQLite; PostgreSQL carries the same scopes in NOTIFY payloads): which application, consumer
 * or connection a committed write changed, in commit order, so other processes drop what they cached of it.
 */
function changeLog(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('change_log')
        .addColumn('seq', dialect === 'sqlite' ? 'integer' : 'bigserial', (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('consumer_id', 'text')
        .addColumn('service_id', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('change_log_at').on('change_log').column('at').execute();
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initial(dialect),
        '0002_oauth': oauth(),
        '0003_webhooks': webhooks(dialect),
        '0004_flows_vault': flowsVault(),
        '0005_proxy': proxy(dialect),
        '0006_rate_limits': rateLimits(),
        '0007_oauth_browser_binding': oauthBrowserBinding(),
        '0008_refresh_lease': refreshLease(),
        '0009_change_log': changeLog(dialect),
      };
    },
  };
}
