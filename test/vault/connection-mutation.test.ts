// The domain's side of the connection unit of work (src/vault/connection-mutation.ts): which settings are sealed,
// how a missing connection starts, and which events a transition emits (with no secret in them).
import { describe, expect, it } from 'vitest';
import type { VaultEventType } from '../../src/events/outbox.js';
import type { ConnectionRecord } from '../../src/store/connection-record.js';
import type { OutboxRow } from '../../src/store/outbox.js';
import { MASK } from '../../src/vault/connection-view.js';
import { blankConnection, sealedSettings, transitionEvents } from '../../src/vault/connection-mutation.js';
import { builtin, connector, field, record, SCOPE } from '../support/unit.js';

const pipedrive = builtin('pipedrive');
const zendesk = builtin('zendesk');
const woocommerce = builtin('woocommerce');
const salesforce = builtin('salesforce');
const hubspot = builtin('hubspot');
const personio = builtin('personio');
const jsonplaceholder = builtin('jsonplaceholder');

const ZENDESK_SECRET = 'zd-secret-0f3a9c';
const ZENDESK = { subdomain: 'acme', email: 'agent@acme.test', api_key: ZENDESK_SECRET };
const ACCESS_TOKEN = 'at-live-7d1e2b';
const REFRESH_TOKEN = 'rt-live-9a4c5e';
const TOKENS = { access_token: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN, token_type: 'bearer', scope: 'api refresh_token' };

interface Envelope {
  payload: {
    event_id: string;
    event_type: VaultEventType;
    service_id: string;
    entity_id: string;
    entity_type: string;
    entity: Record<string, unknown> & { settings: Record<string, unknown> };
  };
}

const envelope = (row: OutboxRow): Envelope => JSON.parse(row.payload as string) as Envelope;
const types = (rows: OutboxRow[]) => rows.map((row) => row.event_type);

describe('sealedSettings', () => {
  it('is the set of sensitive form fields', () => {
    expect([...sealedSettings(zendesk)]).toEqual(['api_key']);
    expect([...sealedSettings(woocommerce)].sort()).toEqual(['consumer_key', 'consumer_secret']);
    expect([...sealedSettings(personio)].sort()).toEqual(['client_id', 'client_secret']);
  });

  it('is empty for connectors without sensitive settings', () => {
    expect(sealedSettings(salesforce).size).toBe(0);
    expect(sealedSettings(hubspot).size).toBe(0);
    expect(sealedSettings(jsonplaceholder).size).toBe(0);
  });

  it('leaves out fields whose sensitive flag is false or null', () => {
    const def = connector({
      auth_type: 'apiKey',
      form_fields: [field('a', { sensitive: true }), field('b', { sensitive: false }), field('c', { sensitive: null }), field('d')],
    });
    expect([...sealedSettings(def)]).toEqual(['a']);
  });

  it('answers the same set for the same definition', () => {
    expect(sealedSettings(zendesk)).toBe(sealedSettings(zendesk));
  });
});

describe('blankConnection', () => {
  it('starts an enabled connection with nothing stored, owned by the scope', () => {
    const before = Date.now();
    const rec = blankConnection({ ...SCOPE, redirectUri: 'https://app.example.com/back' }, zendesk, 'issue-tracking');
    const after = Date.now();
    expect(rec).toEqual({
      id: expect.stringMatching(/^conn_[0-9a-z]{26}$/),
      applicationId: SCOPE.applicationId,
      consumerId: SCOPE.consumerId,
      serviceId: 'zendesk',
      unifiedApi: 'issue-tracking',
      enabled: true,
      settings: {},
      credentials: null,
      tokenExpiresAt: null,
      authStatus: 'ok',
      authError: null,
      confirmed: true,
      metadata: null,
      configuration: [],
      consentState: 'implicit',
      dataScopes: null,
      credentialsExpireAt: null,
      lastRefreshFailedAt: null,
      lastDownstreamErrorAt: null,
      version: 0,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
    });
    expect(rec.createdAt).toBeGreaterThanOrEqual(before);
    expect(rec.createdAt).toBeLessThanOrEqual(after);
    expect(rec.updatedAt).toBe(rec.createdAt);
  });

  it('gives each connection its own id and its own settings and configuration', () => {
    const a = blankConnection(SCOPE, zendesk, 'customer-support');
    const b = blankConnection(SCOPE, zendesk, 'customer-support');
    expect(a.id).not.toBe(b.id);
    a.settings.subdomain = 'acme';
    a.configuration.push({ resource: 'tickets', defaults: [] });
    expect(b.settings).toEqual({});
    expect(b.configuration).toEqual([]);
  });
});

describe('transitionEvents', () => {
  it('emits created for a new connection that is not callable yet', () => {
    expect(types(transitionEvents(zendesk, 'customer-support', null, record(zendesk)))).toEqual(['vault.connection.created']);
    expect(types(transitionEvents(salesforce, 'crm', null, record(salesforce)))).toEqual(['vault.connection.created']);
  });

  it('emits created then callable for a new connection that is callable at once', () => {
    expect(types(transitionEvents(zendesk, 'customer-support', null, record(zendesk, { settings: ZENDESK })))).toEqual([
      'vault.connection.created',
      'vault.connection.callable',
    ]);
    expect(types(transitionEvents(jsonplaceholder, 'project-management', null, record(jsonplaceholder)))).toEqual([
      'vault.connection.created',
      'vault.connection.callable',
    ]);
  });

  it('emits updated for a change that leaves the state as it was', () => {
    const before = record(zendesk, { settings: { subdomain: 'acme' } });
    expect(types(transitionEvents(zendesk, 'customer-support', before, { ...before, settings: { subdomain: 'acme', email: 'a@acme.test' } }))).toEqual([
      'vault.connection.updated',
    ]);
  });

  it('emits callable on the transition into callable', () => {
    const added = record(zendesk, { settings: { subdomain: 'acme', email: 'agent@acme.test' } });
    expect(types(transitionEvents(zendesk, 'customer-support', added, { ...added, settings: ZENDESK }))).toEqual([
      'vault.connection.updated',
      'vault.connection.callable',
    ]);
    const invalid = record(zendesk, { settings: ZENDESK, authStatus: 'invalid' });
    expect(types(transitionEvents(zendesk, 'customer-support', invalid, { ...invalid, authStatus: 'ok' }))).toEqual([
      'vault.connection.updated',
      'vault.connection.callable',
    ]);
  });

  it('emits callable when an OAuth connection gets its first token, not when it is refreshed', () => {
    const added = record(salesforce);
    const authorized = { ...added, credentials: TOKENS };
    expect(types(transitionEvents(salesforce, 'crm', added, authorized))).toEqual(['vault.connection.updated', 'vault.connection.callable']);
    expect(types(transitionEvents(salesforce, 'crm', authorized, { ...authorized, credentials: { ...TOKENS, access_token: 'at-2' } }))).toEqual([
      'vault.connection.updated',
    ]);
  });

  it('does not emit callable for a connection that stays callable, nor for one leaving callable', () => {
    const callable = record(zendesk, { settings: ZENDESK });
    expect(types(transitionEvents(zendesk, 'customer-support', callable, { ...callable, lastDownstreamErrorAt: 1 }))).toEqual(['vault.connection.updated']);
    expect(types(transitionEvents(zendesk, 'customer-support', callable, { ...callable, authStatus: 'invalid' }))).toEqual(['vault.connection.updated']);
  });

  it('does not emit callable for an OAuth connection authorized with a required setting missing', () => {
    const def = connector({ auth_type: 'oauth2', oauth: salesforce.oauth, form_fields: [field('account_id', { required: true })] });
    const added = record(def);
    expect(types(transitionEvents(def, 'crm', added, { ...added, credentials: TOKENS }))).toEqual(['vault.connection.updated']);
  });

  it('emits disabled when the connection goes from enabled to disabled, only then', () => {
    const enabled = record(zendesk, { settings: ZENDESK });
    const disabled = { ...enabled, enabled: false };
    expect(types(transitionEvents(zendesk, 'customer-support', enabled, disabled))).toEqual(['vault.connection.updated', 'vault.connection.disabled']);
    expect(types(transitionEvents(zendesk, 'customer-support', disabled, { ...disabled, metadata: { a: 1 } }))).toEqual(['vault.connection.updated']);
    expect(types(transitionEvents(zendesk, 'customer-support', disabled, enabled))).toEqual(['vault.connection.updated']);
    expect(types(transitionEvents(zendesk, 'customer-support', null, { ...record(zendesk), enabled: false }))).toEqual(['vault.connection.created']);
  });

  it('appends the extra events after its own, in order', () => {
    const before = record(zendesk, { settings: { subdomain: 'acme', email: 'agent@acme.test' } });
    const after = { ...before, settings: ZENDESK, enabled: false };
    expect(types(transitionEvents(zendesk, 'customer-support', before, after, ['vault.connection.revoked', 'vault.connection.token_refresh.failed']))).toEqual([
      'vault.connection.updated',
      'vault.connection.disabled',
      'vault.connection.callable',
      'vault.connection.revoked',
      'vault.connection.token_refresh.failed',
    ]);
    expect(types(transitionEvents(zendesk, 'customer-support', before, before, []))).toEqual(['vault.connection.updated']);
  });

  it('addresses each event to the connection after the change, with its consumer view as the entity', () => {
    const before = record(zendesk, { settings: { subdomain: 'acme', email: 'agent@acme.test' } });
    const after = { ...before, settings: ZENDESK };
    const rows = transitionEvents(zendesk, 'customer-support', before, after);
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
    for (const row of rows) {
      expect(row.application_id).toBe(SCOPE.applicationId);
      expect(row.consumer_id).toBe(SCOPE.consumerId);
      expect(row.service_id).toBe('zendesk');
      expect(row.delivered_at).toBeNull();
      const { payload } = envelope(row);
      expect(payload.event_id).toBe(row.id);
      expect(payload.event_type).toBe(row.event_type);
      expect(payload.entity_type).toBe('Connection');
      expect(payload.entity_id).toBe('customer-support+zendesk');
      expect(payload.entity).toMatchObject({
        id: 'customer-support+zendesk',
        service_id: 'zendesk',
        consumer_id: SCOPE.consumerId,
        unified_api: 'customer-support',
        state: 'callable',
        health: 'ok',
        enabled: true,
        settings: { subdomain: 'acme', email: 'agent@acme.test', api_key: MASK },
      });
    }
    expect(envelope(rows[0]).payload.entity).toEqual(envelope(rows[1]).payload.entity);
  });

  it('shows the state of the record after the change', () => {
    const before = record(salesforce, { credentials: TOKENS });
    const [row] = transitionEvents(salesforce, 'crm', before, { ...before, authStatus: 'invalid', authError: 'invalid_grant' });
    expect(envelope(row).payload.entity).toMatchObject({ state: 'invalid', health: 'needs_auth' });
  });

  describe('no secret in any event', () => {
    /** Every event of the transition, serialized as stored and as delivered. */
    function allEventText(rows: OutboxRow[]): string[] {
      return rows.flatMap((row) => [row.payload as string, JSON.stringify(row), JSON.stringify(envelope(row))]);
    }

    it('masks sensitive settings of an apiKey connection (created, callable)', () => {
      const rows = transitionEvents(zendesk, 'customer-support', null, record(zendesk, { settings: ZENDESK }), ['vault.connection.updated']);
      expect(rows).toHaveLength(3);
      for (const text of allEventText(rows)) expect(text).not.toContain(ZENDESK_SECRET);
    });

    it('masks both secrets of a basic connection being disabled', () => {
      const settings = { store_url: 'https://shop.example.com', consumer_key: 'ck_secret_31c', consumer_secret: 'cs_secret_84f' };
      const before = record(woocommerce, { settings });
      const rows = transitionEvents(woocommerce, 'ecommerce', before, { ...before, enabled: false });
      expect(types(rows)).toEqual(['vault.connection.updated', 'vault.connection.disabled']);
      for (const text of allEventText(rows)) {
        expect(text).not.toContain('ck_secret_31c');
        expect(text).not.toContain('cs_secret_84f');
      }
      expect(envelope(rows[0]).payload.entity.settings).toEqual({ store_url: 'https://shop.example.com', consumer_key: MASK, consumer_secret: MASK });
    });

    it('carries no OAuth token when an authorization-code connection becomes callable', () => {
      const before = record(salesforce);
      const after: ConnectionRecord = { ...before, credentials: TOKENS, tokenExpiresAt: 1, settings: { instance_url: 'https://acme.my.salesforce.com' } };
      const rows = transitionEvents(salesforce, 'crm', before, after, ['vault.connection.token_refresh.recovered']);
      expect(types(rows)).toEqual(['vault.connection.updated', 'vault.connection.callable', 'vault.connection.token_refresh.recovered']);
      for (const text of allEventText(rows)) {
        expect(text).not.toContain(ACCESS_TOKEN);
        expect(text).not.toContain(REFRESH_TOKEN);
      }
    });

    it('carries neither the token nor the client secret of a client-credentials connection', () => {
      const settings = { client_id: 'personio-client-77', client_secret: 'personio-secret-55' };
      const before = record(personio, { settings });
      const after = { ...before, credentials: { access_token: ACCESS_TOKEN, refresh_token: null } };
      const rows = transitionEvents(personio, 'hris', before, after);
      expect(types(rows)).toEqual(['vault.connection.updated', 'vault.connection.callable']);
      for (const text of allEventText(rows)) {
        expect(text).not.toContain(ACCESS_TOKEN);
        expect(text).not.toContain('personio-client-77');
        expect(text).not.toContain('personio-secret-55');
      }
    });

    it('leaves out stored keys the connector does not declare', () => {
      const rows = transitionEvents(pipedrive, 'crm', null, record(pipedrive, { settings: { api_key: 'pd-secret-1', legacy_password: 'legacy-secret-2' } }));
      for (const text of allEventText(rows)) {
        expect(text).not.toContain('pd-secret-1');
        expect(text).not.toContain('legacy-secret-2');
      }
      expect(envelope(rows[0]).payload.entity.settings).toEqual({ api_key: MASK });
    });

    it('carries nothing of the record before the change', () => {
      const before = record(zendesk, { settings: { ...ZENDESK, api_key: 'zd-old-secret' }, credentials: TOKENS });
      const rows = transitionEvents(zendesk, 'customer-support', before, { ...before, settings: ZENDESK, credentials: null });
      for (const text of allEventText(rows)) {
        expect(text).not.toContain('zd-old-secret');
        expect(text).not.toContain(ZENDESK_SECRET);
        expect(text).not.toContain(ACCESS_TOKEN);
      }
    });
  });
});
