// Fills `{setting}` placeholders in connector URLs from the connection's settings, and keeps settings from steering
// a URL to a host the connector does not declare: a consumer (or anyone holding a session token) can set
// `instance_url`, and the OAuth client secret, tokens and API keys follow that URL.
import type { ConnectorDefinition } from './types.js';
import { badRequest } from '../vault/errors.js';

/** A value dropped inside a URL (a subdomain, a tenant id) may not change where the URL points. */
const UNSAFE_INSIDE_URL = /[/?#@:\\\s]/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** After the last placeholder of a host, a fixed domain of at least two labels keeps the host under that domain. */
const FIXED_DOMAIN_SUFFIX = /^(\.[a-z0-9-]+){2,}(:\d+)?$/i;

/** The authority part of a URL template; a leading `{x}` standing for a whole URL counts as a templated authority. */
function authorityOf(template: string): string {
  if (/^\{[A-Za-z_][A-Za-z0-9_]*\}(\/|$)/.test(template)) return template.slice(0, template.indexOf('}') + 1);
  const afterScheme = template.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return afterScheme.split(/[/?#]/)[0];
}

/**
 * True when settings choose the host freely: a whole-URL placeholder, or a placeholder not followed by a fixed
 * domain (`https://{region}/v1`, `https://start.exactonline.{country}`). `https://{subdomain}.zendesk.com` is not:
 * whatever the subdomain, the host stays under zendesk.com.
 */
export function settingsChooseHost(template: string): boolean {
  const authority = authorityOf(template);
  const placeholders = [...authority.matchAll(PLACEHOLDER)];
  if (placeholders.length === 0) return false;
  const last = placeholders[placeholders.length - 1];
  return !FIXED_DOMAIN_SUFFIX.test(authority.slice(last.index! + last[0].length));
}

/**
 * A host entry (a connector's `hosts`, COFFER_PROVIDER_HOSTS, an application's proxy allow-list): a host name or IP
 * (`api.example.com`, `10.0.0.5`), optionally with a port (`api.example.com:8443`), or `*.example.com` for every
 * subdomain. Returned lower-cased; anything else is a 400.
 */
export function normalizeHostEntry(entry: string): string {
  const text = entry.trim().toLowerCase();
  const bare = text.startsWith('*.') ? text.slice(2) : text;
  let url: URL | null = null;
  try {
    url = new URL(`http://${bare}`);
  } catch {
    // reported below
  }
  if (!url || url.host !== bare || bare.includes('*') || (text !== bare && url.port !== '')) {
    throw badRequest(`"${entry}" is not a host name (examples: api.example.com, api.example.com:8443, *.example.com)`);
  }
  return text;
}

/** The settings that choose where a connector's URLs point (`instance_url`, `store_url`, `country`). */
export function hostChoosingSettings(def: ConnectorDefinition): string[] {
  const names = connectorUrlTemplates(def)
    .filter(({ template }) => settingsChooseHost(template))
    .flatMap(({ template }) => placeholders(authorityOf(template)));
  return [...new Set(names)];
}

/** `host` against `entries` of exact hosts (`a.example`, `a.example:8443`), `*.domain` wildcards or `*` (any). */
export function hostMatches(url: URL, entries: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  return entries.some((entry) => {
    if (entry === '*') return true;
    if (entry.startsWith('*.')) return host.endsWith(entry.slice(1));
    return entry.includes(':') && !entry.startsWith('[') ? url.host.toLowerCase() === entry : host === entry;
  });
}

export function fillUrlTemplate(template: string, values: Record<string, unknown>, what: string): string {
  const filled = template.replace(PLACEHOLDER, (placeholder, name: string, offset: number) => {
    const value = values[name];
    if (value === undefined || value === null || value === '') {
      throw badRequest(`Setting "${name}" is required before ${what}`, { missing: [{ [`settings.${name}`]: 'required' }] });
    }
    const text = String(value).replace(/\/+$/, '');
    if (offset > 0 && UNSAFE_INSIDE_URL.test(text)) throw badRequest(`Setting "${name}" may not contain / ? # @ : or spaces`);
    return offset > 0 ? encodeURIComponent(text) : text;
  });
  let url: URL;
  try {
    url = new URL(filled);
  } catch {
    throw badRequest(`The settings do not make a valid URL for ${what}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badRequest(`The URL for ${what} must be http(s)`);
  if (url.username || url.password) throw badRequest(`The URL for ${what} may not carry a user name or password`);
  return url.toString();
}

/** A connector URL filled from settings, refused (400) when the settings point it at a host the connector does not list. */
export function fillConnectorUrl(def: ConnectorDefinition, template: string, values: Record<string, unknown>, what: string): string {
  const filled = fillUrlTemplate(template, values, what);
  if (settingsChooseHost(template)) {
    const url = new URL(filled);
    if (!hostMatches(url, def.hosts)) {
      const names = [...new Set(placeholders(template))].map((name) => `settings.${name}`);
      throw badRequest(
        `${url.host} is not a ${def.name} host (allowed: ${def.hosts.join(', ') || 'none'}); an operator can add hosts with COFFER_PROVIDER_HOSTS`,
        { invalid: names.map((name) => ({ [name]: `host ${url.host} not allowed` })) },
      );
    }
  }
  return filled;
}

function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** Every URL of a connector that settings fill: OAuth endpoints and the API base. */
export function connectorUrlTemplates(def: ConnectorDefinition): { template: string; what: string }[] {
  const out: { template: string; what: string }[] = [];
  if (def.oauth?.authorization_url) out.push({ template: def.oauth.authorization_url, what: 'authorization' });
  if (def.oauth) out.push({ template: def.oauth.token_url, what: 'the token request' });
  if (def.oauth?.revocation_url) out.push({ template: def.oauth.revocation_url, what: 'revocation' });
  if (def.proxy) out.push({ template: def.proxy.base_url, what: `calling ${def.name}` });
  return out;
}

/**
 * At save time: every connector URL whose placeholders the settings fill must come out valid and on an allowed host,
 * so a setting that would send credentials elsewhere is refused before it is stored, not only when used.
 * Placeholders of credentials (`{access_token}`, `{api_key}` in a base URL) and unset settings are left for later.
 */
export function checkConnectorUrls(def: ConnectorDefinition, settings: Record<string, unknown>): void {
  for (const { template, what } of connectorUrlTemplates(def)) {
    const names = placeholders(template);
    if (names.some((name) => settings[name] === undefined || settings[name] === null || settings[name] === '')) continue;
    fillConnectorUrl(def, template, settings, what);
  }
}
