// Checks create/update bodies against the app's setup variants. Messages name the field, never echo a value.
import { invalidBody } from './errors.js';
import { FLOWS_APP_IDS, FLOWS_APPS, type FieldRule, type SetupSchema } from './setup-schemas.js';

/** A validated setup: `type` plus its other properties (secrets included). */
export type Setup = { type: string } & Record<string, unknown>;

export interface ValidationOptions {
  /** Token endpoints over plain http (tests against a local provider; COFFER_ALLOW_INSECURE_PROVIDERS). */
  allowInsecureUrls: boolean;
}

export interface CreateInput {
  name: string;
  appId: string;
  setup: Setup | null;
}

export interface UpdateInput {
  name?: string;
  setup?: Setup;
}

/** Where Auth0's schema gives no limit: well above a PEM private key, well below the body limit. */
const DEFAULT_MAX_LENGTH = 16_384;
const NAME_MAX_LENGTH = 150;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rejectUnknown(body: Record<string, unknown>, allowed: string[], where: string): void {
  const extra = Object.keys(body).filter((key) => !allowed.includes(key));
  if (extra.length) throw invalidBody(`Additional properties not allowed: ${extra.join(',')} on property ${where}`);
}

function checkName(value: unknown): string {
  if (typeof value !== 'string') throw invalidBody(`'name' must be a string of 1 to ${NAME_MAX_LENGTH} characters`);
  if (value.length < 1 || value.length > NAME_MAX_LENGTH) throw invalidBody(`'name' must be 1 to ${NAME_MAX_LENGTH} characters long`);
  return value;
}

function isHttpsUrl(value: string, allowHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'https:' || (allowHttp && url.protocol === 'http:');
}

// RFC 2181 allows any octets in a label; a domain Coffer sends requests to must also be a usable host name: labels of
// letters, digits, "-" and "_", no scheme, path or port.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function checkField(path: string, value: unknown, rule: FieldRule, options: ValidationOptions): void {
  if (typeof value !== 'string') throw invalidBody(`'${path}' must be a string`);
  const max = rule.maxLength ?? DEFAULT_MAX_LENGTH;
  const min = rule.minLength ?? 1;
  if (value.length < min || value.length > max) throw invalidBody(`'${path}' must be ${min} to ${max} characters long`);
  if (rule.enum && !rule.enum.includes(value)) throw invalidBody(`'${path}' must be one of ${rule.enum.join(', ')}`);
  if (rule.format === 'https-url' && !isHttpsUrl(value, Boolean(rule.fetched) && options.allowInsecureUrls)) {
    throw invalidBody(`'${path}' must be an absolute https:// URL`);
  }
  if (rule.format === 'hostname' && !HOSTNAME.test(value)) throw invalidBody(`'${path}' must be a host name (no scheme, port or path)`);
  if (rule.format === 'email' && !EMAIL.test(value)) throw invalidBody(`'${path}' must be an email address`);
}

function checkAgainst(schema: SetupSchema, setup: Record<string, unknown>, options: ValidationOptions): Setup {
  for (const [field, rule] of Object.entries(schema.fields)) {
    if (setup[field] === undefined) {
      if (rule.required) throw invalidBody(`Missing required property: ${field} on property setup (${schema.type} setup)`);
      continue;
    }
    checkField(`setup.${field}`, setup[field], rule, options);
  }
  if (!schema.additionalProperties) rejectUnknown(setup, ['type', ...Object.keys(schema.fields)], `setup (${schema.type} setup)`);
  return setup as Setup;
}

/** Dispatch on `app_id`, then on `setup.type` (required here: it is what picks the variant). */
export function validateSetup(appId: string, setup: unknown, options: ValidationOptions): Setup {
  if (!isObject(setup)) throw invalidBody(`'setup' must be an object`);
  const variants = FLOWS_APPS[appId];
  const allowed = variants.map((v) => v.type);
  if (typeof setup.type !== 'string') throw invalidBody(`Missing required property: type on property setup (${appId} accepts ${allowed.join(', ')})`);
  const schema = variants.find((v) => v.type === setup.type);
  if (!schema) throw invalidBody(`'setup.type' must be one of ${allowed.join(', ')} for app_id ${appId}`);
  return checkAgainst(schema, setup, options);
}

export function parseCreateBody(body: unknown, options: ValidationOptions): CreateInput {
  if (!isObject(body)) throw invalidBody('the body must be a JSON object or a form with name, app_id and setup');
  rejectUnknown(body, ['name', 'app_id', 'setup'], 'body');
  if (body.name === undefined) throw invalidBody('Missing required property: name');
  if (body.app_id === undefined) throw invalidBody('Missing required property: app_id');
  const name = checkName(body.name);
  if (typeof body.app_id !== 'string' || !FLOWS_APPS[body.app_id]) throw invalidBody(`'app_id' must be one of ${FLOWS_APP_IDS.join(', ')}`);
  const setup = body.setup === undefined ? null : validateSetup(body.app_id, body.setup, options);
  return { name, appId: body.app_id, setup };
}

export function parseUpdateBody(body: unknown, appId: string, options: ValidationOptions): UpdateInput {
  if (body === undefined) return {};
  if (!isObject(body)) throw invalidBody('the body must be a JSON object or a form with name and/or setup');
  rejectUnknown(body, ['name', 'setup'], 'body');
  return {
    ...(body.name !== undefined ? { name: checkName(body.name) } : {}),
    ...(body.setup !== undefined ? { setup: validateSetup(appId, body.setup, options) } : {}),
  };
}
