// Fills `{setting}` placeholders in connector URLs from the connection's settings.
import { badRequest } from '../vault/errors.js';

/** A value dropped inside a URL (a subdomain, a tenant id) may not change where the URL points. */
const UNSAFE_INSIDE_URL = /[/?#@:\\\s]/;

export function fillUrlTemplate(template: string, values: Record<string, unknown>, what: string): string {
  const filled = template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (placeholder, name: string, offset: number) => {
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
  return url.toString();
}
