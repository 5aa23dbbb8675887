// How a connector's credentials go onto an outgoing request (bearer, header, query parameter, basic), from the
// connector's proxy definition filled with the connection's settings and tokens.
import type { ConnectorDefinition } from '../connectors/types.js';
import { badRequest } from '../vault/errors.js';
import { fillConnectorUrl } from '../connectors/url-template.js';
import { withDefaults } from '../vault/connection-state.js';

export interface UpstreamTarget {
  baseUrl: string;
  headers: Record<string, string>;
  query: Record<string, string>;
}

/** Fills `{name}` from settings and credentials; a missing value is a clear 4xx, never an empty credential. */
function fillValue(template: string, values: Record<string, unknown>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined || value === null || value === '') {
      throw badRequest(`Setting "${name}" is required to call the provider`, { missing: [{ [`settings.${name}`]: 'required' }] });
    }
    return String(value);
  });
}

/** The connector's API base URL for these settings (no credentials needed), or null when it defines none. */
export function proxyBaseUrl(def: ConnectorDefinition, settings: Record<string, unknown>): string | null {
  if (!def.proxy) return null;
  return fillConnectorUrl(def, def.proxy.base_url, withDefaults(def, settings), `calling ${def.name}`).replace(/\/+$/, '');
}

export function upstreamTarget(def: ConnectorDefinition, settings: Record<string, unknown>, accessToken: string | null): UpstreamTarget {
  if (!def.proxy) throw badRequest(`${def.name} has no API base URL in its connector definition`);
  const values: Record<string, unknown> = { ...withDefaults(def, settings), ...(accessToken ? { access_token: accessToken } : {}) };
  const baseUrl = fillConnectorUrl(def, def.proxy.base_url, values, `calling ${def.name}`).replace(/\/+$/, '');
  const auth = def.proxy.auth;
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(def.proxy.headers ?? {})) headers[name.toLowerCase()] = fillValue(template, values);
  const query: Record<string, string> = {};
  switch (auth.type) {
    case 'bearer':
      headers.authorization = `Bearer ${fillValue(auth.value, values)}`;
      break;
    case 'header':
      headers[auth.name.toLowerCase()] = fillValue(auth.value, values);
      break;
    case 'query':
      query[auth.name] = fillValue(auth.value, values);
      break;
    case 'basic':
      headers.authorization = `Basic ${Buffer.from(`${fillValue(auth.username, values)}:${auth.password ? fillValue(auth.password, values) : ''}`).toString('base64')}`;
      break;
    case 'none':
      break;
  }
  return { baseUrl, headers, query };
}

export function upstreamUrl(target: UpstreamTarget, path: string): URL {
  const url = new URL(target.baseUrl + (path.startsWith('/') ? path : `/${path}`));
  for (const [key, value] of Object.entries(target.query)) url.searchParams.set(key, value);
  return url;
}
