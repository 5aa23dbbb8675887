// Checks a settings patch against the connector's form fields and merges it into the stored settings.
import type { ConnectorDefinition, FormField } from '../connectors/types.js';
import { badRequest } from './errors.js';
import { MASK } from './connection-view.js';
import { checkConnectorUrls, hostChoosingSettings } from '../connectors/url-template.js';
import { isBlank, withDefaults } from './connection-state.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function optionValues(field: FormField): unknown[] {
  return (field.options ?? []).flatMap((o) => (o.option_type === 'group' ? o.options.map((s) => s.value) : [o.value]));
}

const parsedUrl = (text: string): URL | null => {
  try {
    return new URL(text);
  } catch {
    return null;
  }
};

export function checkFieldValue(field: FormField, value: unknown, where: string): void {
  if (value === null || value === '') return;
  const fail = (why: string) => {
    throw badRequest(`Invalid value for ${where}: ${why}`, { invalid: [{ [where]: why }] });
  };
  switch (field.type) {
    case 'checkbox':
      if (typeof value !== 'boolean') fail('expected a boolean');
      return;
    case 'number':
      if (typeof value !== 'number' && !(typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)))) fail('expected a number');
      return;
    case 'multi-select':
      if (!Array.isArray(value)) fail('expected an array');
      break;
    case 'email':
      if (typeof value !== 'string' || !EMAIL.test(value)) fail('expected an email address');
      return;
    case 'url': {
      const url = typeof value === 'string' ? parsedUrl(`${field.prefix ?? ''}${value}${field.suffix ?? ''}`) : null;
      if (!url) fail('expected a URL');
      else if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('expected an http(s) URL');
      return;
    }
    default:
      if (typeof value === 'object') fail('expected a string, number or boolean');
  }
  const allowed = optionValues(field);
  if (allowed.length && !field.allow_custom_values) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) if (!allowed.some((a) => a === v)) fail(`"${String(v)}" is not one of the options`);
  }
}

/**
 * Only the connector's form fields are stored: an undeclared key (say a `client_secret` the connector does not ask
 * for) would be kept in clear and shown back unmasked, so it is refused. Keys set to null are removed; a sensitive
 * field sent back as the mask keeps its stored value. Connector URLs the merged settings fill must stay on the
 * connector's hosts (checked here, before anything is stored, and again when used).
 */
export function mergeSettings(
  def: ConnectorDefinition,
  current: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const fields = new Map(def.form_fields.map((f) => [f.id, f]));
  const undeclared = Object.keys(patch).filter((key) => !fields.has(key));
  if (undeclared.length) {
    const known = def.form_fields.map((f) => f.id).join(', ') || 'none';
    throw badRequest(`${def.name} has no setting ${undeclared.map((k) => `"${k}"`).join(', ')} (its settings: ${known})`, {
      invalid: undeclared.map((key) => ({ [`settings.${key}`]: 'not a setting of this connector' })),
    });
  }
  const next: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(current)) if (fields.has(key)) next[key] = value;
  for (const [key, value] of Object.entries(patch)) {
    const field = fields.get(key)!;
    if (field.sensitive && value === MASK) continue;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      throw badRequest(`Invalid value for settings.${key}: expected a string, number, boolean or array`);
    }
    checkFieldValue(field, value, `settings.${key}`);
    if (value === null) delete next[key];
    else next[key] = value;
  }
  checkConnectorUrls(def, withDefaults(def, next));
  return next;
}

/**
 * Credentials stay with the host they were given for. Changing a setting that chooses where they go (a store or
 * instance URL) must bring the connection's secrets again in the same request, and is refused while the connection
 * holds OAuth tokens (they were issued by the old host): whoever can change a setting, a session holder included,
 * cannot send stored credentials to another host.
 */
export function checkCredentialsStayWithHost(
  def: ConnectorDefinition,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  patch: Record<string, unknown>,
  holdsTokens: boolean,
): void {
  const was = withDefaults(def, before);
  const now = withDefaults(def, after);
  const moved = hostChoosingSettings(def).filter((id) => was[id] !== undefined && now[id] !== was[id]);
  if (!moved.length) return;
  const where = moved.map((id) => `settings.${id}`).join(', ');
  if (holdsTokens) {
    throw badRequest(`${where} decides where this ${def.name} connection's tokens go: disconnect it before pointing it elsewhere`, {
      invalid: moved.map((id) => ({ [`settings.${id}`]: 'the connection holds tokens for the current host' })),
    });
  }
  const kept = def.form_fields.filter((f) => f.sensitive && !isBlank(before[f.id]) && (patch[f.id] === undefined || patch[f.id] === MASK));
  if (kept.length) {
    throw badRequest(`Changing ${where} moves where ${def.name} credentials go: send ${kept.map((f) => `settings.${f.id}`).join(', ')} again with it`, {
      missing: kept.map((f) => ({ [`settings.${f.id}`]: 'required when the host changes' })),
    });
  }
}
