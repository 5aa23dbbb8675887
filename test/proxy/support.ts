// Shared set-up of the proxy suites: connectors pointing at a real upstream on 127.0.0.1, one per injection style.
import { expect } from 'vitest';
import type { TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';

export function proxyConnectors(upstream: string) {
  const apiKeyField = { id: 'api_key', label: 'API key', type: 'password', required: true, sensitive: true };
  const base = (id: string, name: string) => ({ id, name, website: `https://${id}.example`, unified_apis: ['crm'] });
  return [
    { ...base('px-bearer', 'Bearer CRM'), auth_type: 'apiKey', form_fields: [apiKeyField], proxy: { base_url: `${upstream}/bearer`, auth: { type: 'bearer', value: '{api_key}' } } },
    {
      ...base('px-header', 'Header CRM'),
      auth_type: 'apiKey',
      form_fields: [apiKeyField, { id: 'tenant', label: 'Tenant', type: 'text', required: true }],
      proxy: { base_url: `${upstream}/header`, auth: { type: 'header', name: 'X-Api-Key', value: '{api_key}' }, headers: { 'X-Client': 'coffer-{tenant}' } },
    },
    { ...base('px-query', 'Query CRM'), auth_type: 'apiKey', form_fields: [apiKeyField], proxy: { base_url: `${upstream}/query`, auth: { type: 'query', name: 'apikey', value: '{api_key}' } } },
    {
      ...base('px-basic', 'Basic CRM'),
      auth_type: 'basic',
      form_fields: [
        { id: 'username', label: 'User', type: 'text', required: true },
        { id: 'password', label: 'Password', type: 'password', required: true, sensitive: true },
      ],
      proxy: { base_url: `${upstream}/basic`, auth: { type: 'basic', username: '{username}', password: '{password}' } },
    },
  ];
}

/** Stores a connection's settings through the API and checks it is callable. */
export async function connect(coffer: TestCoffer, consumer: string, serviceId: string, settings: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${coffer.url}/vault/connections/crm/${serviceId}`, {
    method: 'PATCH',
    headers: { ...coffer.headers(consumer), 'content-type': 'application/json' },
    body: JSON.stringify({ settings }),
  });
  expect((await okJson(res)).data.state).toBe('callable');
}

/** Headers of a raw `/proxy` call. */
export function proxyHeaders(coffer: TestCoffer, consumer: string, serviceId: string, downstreamUrl: string, extra: Record<string, string> = {}) {
  return { ...coffer.headers(consumer), 'x-apideck-service-id': serviceId, 'x-apideck-downstream-url': downstreamUrl, ...extra };
}
