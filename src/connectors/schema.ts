// The schema of ONE connector definition file (YAML or JSON), the rules a schema cannot express, and the defaults.
//
// Validation is three steps, each small:
//   1. `ConnectorFileSchema` (typebox) — shapes and types; unknown properties are rejected at every level so a typo
//      (`scope:` for `scopes:`) is an error instead of a silently ignored key.
//   2. `checkRules` — cross-field rules: oauth iff auth_type oauth2, authorization_url iff authorization_code, unique
//      ids, settings_required_for_authorization ⊆ form field ids, http(s) URL templates, known template placeholders.
//   3. `applyDefaults` — fills optional fields so consumers of `ConnectorDefinition` never see `undefined` there.
//
// `validateConnectorFile` runs all three and reports the FIRST problem as `{ path, message }`, where `path` is a
// readable field path such as `oauth.token_url` or `form_fields[2].type` (see `formatPath`).
//
// Templates: URL fields and proxy credential values may contain `{name}` placeholders. A placeholder must name a form
// field id (a connection setting) or one of `TEMPLATE_CREDENTIALS` (`{access_token}`, `{api_key}`). A URL may also
// start with a placeholder that holds a whole URL, e.g. `{instance_url}/services/data/v60.0`.

import { Type, type Static, type TSchema, type TLiteral, type TUnion, type SchemaOptions } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { ConnectorDefinition, FormField, OAuthSettings, ResourceDefinition, VerificationRequest } from './types.js';
import { normalizeHostEntry, settingsChooseHost } from './url-template.js';

// ---------------------------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------------------------

/** Apideck's UnifiedApiId enum. */
export const UNIFIED_API_IDS = [
  'accounting', 'ats', 'calendar', 'crm', 'csp', 'customer-support', 'ecommerce', 'email', 'email-marketing',
  'expense-management', 'file-storage', 'form', 'hris', 'lead', 'payroll', 'pos', 'procurement', 'project-management',
  'script', 'sms', 'spreadsheet', 'subscription-analytics', 'team-messaging', 'issue-tracking', 'time-registration',
  'transactional-email', 'vault', 'data-warehouse',
] as const;
export type UnifiedApiId = (typeof UNIFIED_API_IDS)[number];

export const AUTH_TYPES = ['oauth2', 'apiKey', 'basic', 'custom', 'none'] as const;
export const OAUTH_GRANT_TYPES = ['authorization_code', 'client_credentials', 'password'] as const;
export const CONNECTOR_STATUSES = ['live', 'upcoming', 'requested'] as const;
export const FORM_FIELD_TYPES = [
  'text', 'checkbox', 'tel', 'email', 'url', 'textarea', 'select', 'filtered-select', 'multi-select', 'datetime',
  'date', 'time', 'number', 'password',
] as const;

/** Connector ids (also used in URLs such as `/vault/connections/crm/{service_id}`). */
export const CONNECTOR_ID_PATTERN = '^[a-z0-9][a-z0-9-]*$';
/** Form field ids double as template placeholder names, so they are identifiers. */
export const FORM_FIELD_ID_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
/** Resource names appear in URLs (`…/{resource}/schema`). */
export const RESOURCE_NAME_PATTERN = '^[a-z][a-z0-9_-]*$';
/** Placeholders the runtime fills from the connection's credentials rather than from a form field. */
export const TEMPLATE_CREDENTIALS = ['access_token', 'api_key'] as const;

function StringEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options?: SchemaOptions,
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as TUnion<TLiteral<T[number]>[]>;
}
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Strict = { additionalProperties: false } as const;
const NonEmpty = Type.String({ minLength: 1 });

// ---------------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------------

export const SimpleFormFieldOptionSchema = Type.Object(
  {
    label: Type.String(),
    value: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number()]))]),
    option_type: Type.Literal('simple'),
  },
  Strict,
);

export const FormFieldOptionGroupSchema = Type.Object(
  {
    id: Type.Optional(Type.String()),
    label: Type.String(),
    options: Type.Array(SimpleFormFieldOptionSchema),
    option_type: Type.Literal('group'),
  },
  Strict,
);

export const FormFieldSchema = Type.Object(
  {
    id: Type.String({ pattern: FORM_FIELD_ID_PATTERN }),
    label: NonEmpty,
    placeholder: Type.Optional(Nullable(Type.String())),
    description: Type.Optional(Nullable(Type.String())),
    type: StringEnum(FORM_FIELD_TYPES),
    required: Type.Optional(Type.Boolean()),
    custom_field: Type.Optional(Type.Boolean()),
    allow_custom_values: Type.Optional(Type.Boolean()),
    disabled: Type.Optional(Nullable(Type.Boolean())),
    hidden: Type.Optional(Nullable(Type.Boolean())),
    deprecated: Type.Optional(Nullable(Type.Boolean())),
    sensitive: Type.Optional(Nullable(Type.Boolean())),
    prefix: Type.Optional(Nullable(Type.String())),
    suffix: Type.Optional(Nullable(Type.String())),
    options: Type.Optional(Type.Array(Type.Union([SimpleFormFieldOptionSchema, FormFieldOptionGroupSchema]))),
    default_value: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
  },
  Strict,
);

const StringMap = Type.Record(Type.String(), Type.String());

export const OAuthSettingsSchema = Type.Object(
  {
    grant_type: StringEnum(OAUTH_GRANT_TYPES),
    /** Required iff grant_type is authorization_code. */
    authorization_url: Type.Optional(NonEmpty),
    token_url: NonEmpty,
    /** RFC 7009 revocation endpoint (POST token=…). */
    revocation_url: Type.Optional(NonEmpty),
    /** The provider's issuer identifier, checked against the RFC 9207 `iss` of authorization responses. */
    issuer: Type.Optional(NonEmpty),
    /** True when the provider always sends `iss` (RFC 9207): a response without it is then refused. Default false. */
    iss_parameter_supported: Type.Optional(Type.Boolean()),
    /** Default []. */
    scopes: Type.Optional(Type.Array(NonEmpty)),
    /** Default ' '. */
    scope_separator: Type.Optional(Type.String({ minLength: 1 })),
    /** Default true for authorization_code, false otherwise (and only allowed for authorization_code). */
    pkce: Type.Optional(Type.Boolean()),
    /** Extra query parameters on the authorize redirect. Default {}. */
    authorize_params: Type.Optional(StringMap),
    /** Extra form parameters on token requests. Default {}. */
    token_params: Type.Optional(StringMap),
    /** How the client authenticates at the token endpoint. Default client_secret_basic. */
    client_auth: Type.Optional(StringEnum(['client_secret_basic', 'client_secret_post'])),
    /**
     * False when the flow is completed in another browser than the one that started it (e.g. a link handed to an
     * administrator): the callback then does not ask for the authorize cookie. Default true (authorization_code only).
     */
    browser_binding: Type.Optional(Type.Boolean()),
  },
  Strict,
);

export const ProxyInjectionSchema = Type.Union([
  Type.Object({ type: Type.Literal('bearer'), value: NonEmpty }, Strict),
  Type.Object({ type: Type.Literal('header'), name: Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), value: NonEmpty }, Strict),
  Type.Object({ type: Type.Literal('query'), name: NonEmpty, value: NonEmpty }, Strict),
  Type.Object({ type: Type.Literal('basic'), username: NonEmpty, password: Type.String() }, Strict),
  Type.Object({ type: Type.Literal('none') }, Strict),
]);

export const ProxySettingsSchema = Type.Object(
  {
    base_url: NonEmpty,
    auth: ProxyInjectionSchema,
    /** Further headers every call carries (API version, account headers); values are templates like `auth`. */
    headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), NonEmpty)),
  },
  Strict,
);

export const VerificationRequestSchema = Type.Object(
  {
    /** Default GET. */
    method: Type.Optional(StringEnum(['GET', 'POST', 'HEAD'])),
    /** Relative to proxy.base_url; may carry a query string. */
    path: Type.String({ pattern: '^/' }),
    /** Default [200]. */
    success_statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1 })),
  },
  Strict,
);

export const CustomFieldDefinitionSchema = Type.Object(
  {
    id: NonEmpty,
    /** Default null. */
    name: Type.Optional(Nullable(Type.String())),
    /** Default null. */
    description: Type.Optional(Nullable(Type.String())),
    /** JSONPath into the provider's record, e.g. `$.Industry`. */
    finder: Type.String({ pattern: '^\\$' }),
  },
  Strict,
);

const JsonObject = Type.Record(Type.String(), Type.Unknown());

/** Live custom-field discovery: one request with the consumer's credentials, then JSONPaths into the answer. */
export const CustomFieldDiscoverySchema = Type.Object(
  {
    /** Default GET. */
    method: Type.Optional(StringEnum(['GET', 'POST'])),
    /** Relative to proxy.base_url. */
    path: Type.String({ pattern: '^/' }),
    /** JSONPath to the list of field descriptions in the response, e.g. `$.fields[?(@.custom)]`. */
    items: Type.String({ pattern: '^\\$' }),
    /** JSONPaths inside one item. */
    id: Type.String({ pattern: '^\\$' }),
    name: Type.Optional(Type.String({ pattern: '^\\$' })),
    description: Type.Optional(Type.String({ pattern: '^\\$' })),
    /** The finder returned for a field; `{id}` is replaced by the field id. E.g. `$.{id}`. */
    finder: Type.String({ pattern: '^\\$' }),
  },
  Strict,
);

export const ResourceDefinitionSchema = Type.Object(
  {
    name: Type.Optional(NonEmpty),
    downstream_id: Type.Optional(NonEmpty),
    downstream_name: Type.Optional(NonEmpty),
    schema: Type.Optional(JsonObject),
    example: Type.Optional(JsonObject),
    settings: Type.Optional(Type.Array(FormFieldSchema)),
    custom_fields: Type.Optional(Type.Array(CustomFieldDefinitionSchema)),
    custom_fields_discovery: Type.Optional(CustomFieldDiscoverySchema),
  },
  Strict,
);

export const ConnectorFileSchema = Type.Object(
  {
    /** Lets JSON files point editors at a JSON Schema; ignored. */
    $schema: Type.Optional(Type.String()),
    id: Type.String({ pattern: CONNECTOR_ID_PATTERN }),
    name: NonEmpty,
    tag_line: Type.Optional(Type.String()),
    website: NonEmpty,
    icon: Type.Optional(Type.String()),
    logo: Type.Optional(Type.String()),
    status: Type.Optional(StringEnum(CONNECTOR_STATUSES)),
    unified_apis: Type.Array(StringEnum(UNIFIED_API_IDS), { minItems: 1 }),
    auth_type: StringEnum(AUTH_TYPES),
    /** Where URLs whose host a setting chooses may point; required when one does (see url-template.ts). */
    hosts: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
    oauth: Type.Optional(OAuthSettingsSchema),
    form_fields: Type.Optional(Type.Array(FormFieldSchema)),
    settings_required_for_authorization: Type.Optional(Type.Array(Type.String())),
    resources: Type.Optional(
      Type.Record(Type.String({ pattern: RESOURCE_NAME_PATTERN }), ResourceDefinitionSchema, Strict),
    ),
    proxy: Type.Optional(ProxySettingsSchema),
    verification: Type.Optional(VerificationRequestSchema),
    migration_targets: Type.Optional(Type.Array(Type.String({ pattern: CONNECTOR_ID_PATTERN }))),
    has_guide: Type.Optional(Type.Boolean()),
  },
  Strict,
);

/** A connector file as written (before defaults). */
export type ConnectorFile = Static<typeof ConnectorFileSchema>;
/** A validated connector with defaults applied; the loader adds `source`. */
export type ConnectorFileDefinition = Omit<ConnectorDefinition, 'source'>;

// ---------------------------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------------------------

export type PathSegment = string | number;
export interface ValidationProblem {
  /** e.g. `oauth.token_url`, `form_fields[2].type`, `(root)`. */
  path: string;
  message: string;
}
export type ValidationResult = { ok: true; value: ConnectorFileDefinition } | { ok: false; problem: ValidationProblem };

/** `['form_fields', 2, 'type']` → `form_fields[2].type`; odd keys are quoted: `token_params["x.y"]`. */
export function formatPath(segments: readonly PathSegment[]): string {
  if (segments.length === 0) return '(root)';
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** RFC 6901 pointer → segments; array indices become numbers (decided by walking `root`). */
export function pointerToSegments(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const segments: PathSegment[] = [];
  let current: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current) && /^\d+$/.test(key)) {
      segments.push(Number(key));
      current = current[Number(key)];
    } else {
      segments.push(key);
      current = isPlainObject(current) ? current[key] : undefined;
    }
  }
  return segments;
}

// ---------------------------------------------------------------------------------------------------------------
// Turning typebox errors into one readable problem
// ---------------------------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** What a schema accepts, in a few words. */
function describeSchema(schema: TSchema): string {
  if ('const' in schema) return JSON.stringify(schema['const']);
  if (Array.isArray(schema['anyOf'])) return (schema['anyOf'] as TSchema[]).map(describeSchema).join(' or ');
  switch (schema['type']) {
    case 'string': return 'a string';
    case 'number': return 'a number';
    case 'integer': return 'an integer';
    case 'boolean': return 'a boolean (true/false)';
    case 'null': return 'null';
    case 'array': return 'a list';
    case 'object': return 'a mapping';
    default: return 'a valid value';
  }
}

const isLiteral = (schema: TSchema): boolean => 'const' in schema;
const literalList = (schemas: TSchema[]): string => schemas.map((s) => String(s['const'])).join(', ');

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function suggest(key: string, allowed: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = levenshtein(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(key.length / 3)) ? best.key : undefined;
}

/** If every variant is an object with a literal-valued property `k` (e.g. `type`, `option_type`), returns `k`. */
function discriminatorOf(variants: TSchema[]): string | undefined {
  const first = variants[0]?.['properties'] as Record<string, TSchema> | undefined;
  if (!first) return undefined;
  return Object.keys(first).find((key) =>
    variants.every((v) => {
      const property = (v['properties'] as Record<string, TSchema> | undefined)?.[key];
      return property !== undefined && isLiteral(property);
    }),
  );
}

/** The first problem of `value` against `schema`, with paths prefixed by `base`. */
function firstProblem(schema: TSchema, value: unknown, base: PathSegment[]): { path: PathSegment[]; message: string } | undefined {
  const errors = [...Value.Errors(schema, value)];
  const error = errors[0];
  if (!error) return undefined;
  if (error.type === ValueErrorType.ObjectRequiredProperty) {
    // A missing `token_url` next to an unknown `tokn_url` is a typo: report the typo, it is the line to fix.
    const parent = error.path.slice(0, error.path.lastIndexOf('/'));
    const missing = error.path.slice(parent.length + 1);
    const typo = errors.find(
      (e) =>
        e.type === ValueErrorType.ObjectAdditionalProperties &&
        e.path.slice(0, e.path.lastIndexOf('/')) === parent &&
        suggest(e.path.slice(parent.length + 1), [missing]) !== undefined,
    );
    if (typo) return explain(typo, value, base);
  }
  return explain(error, value, base);
}

function explain(error: ValueError, root: unknown, base: PathSegment[]): { path: PathSegment[]; message: string } {
  const path = [...base, ...pointerToSegments(error.path, root)];
  const schema = error.schema;
  const value = error.value;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { path, message: `is required (${describeSchema(schema)})` };
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = String(path[path.length - 1]);
      if (schema['patternProperties']) {
        const pattern = Object.keys(schema['patternProperties'] as object)[0];
        return { path, message: `invalid key ${JSON.stringify(key)}; keys must match ${pattern}` };
      }
      const allowed = Object.keys((schema['properties'] ?? {}) as object);
      const guess = suggest(key, allowed);
      return {
        path,
        message: guess ? `unknown property; did you mean '${guess}'?` : `unknown property; allowed here: ${allowed.join(', ')}`,
      };
    }
    case ValueErrorType.Union: {
      const variants = schema['anyOf'] as TSchema[];
      if (variants.every(isLiteral)) return { path, message: `must be one of: ${literalList(variants)} (got ${describeValue(value)})` };
      const discriminator = discriminatorOf(variants);
      if (discriminator && isPlainObject(value)) {
        const tag = value[discriminator];
        const match = variants.find((v) => (v['properties'] as Record<string, TSchema>)[discriminator]['const'] === tag);
        const tags = variants.map((v) => (v['properties'] as Record<string, TSchema>)[discriminator]);
        if (!match) {
          const problem = tag === undefined ? `is required` : `must be one of: ${literalList(tags)} (got ${describeValue(tag)})`;
          return { path: [...path, discriminator], message: tag === undefined ? `${problem} (one of: ${literalList(tags)})` : problem };
        }
        const inner = firstProblem(match, value, path);
        if (inner) return inner;
      }
      return { path, message: `expected ${describeSchema(schema)}, got ${describeValue(value)}` };
    }
    case ValueErrorType.Literal:
      return { path, message: `must be ${JSON.stringify(schema['const'])} (got ${describeValue(value)})` };
    case ValueErrorType.StringPattern:
      return { path, message: `must match ${schema['pattern']} (got ${describeValue(value)})` };
    case ValueErrorType.StringMinLength:
      return { path, message: schema['minLength'] === 1 ? 'must not be empty' : `must be at least ${schema['minLength']} characters` };
    case ValueErrorType.ArrayMinItems:
      return { path, message: `must have at least ${schema['minItems']} item${schema['minItems'] === 1 ? '' : 's'}` };
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return { path, message: `must be >= ${schema['minimum']} (got ${describeValue(value)})` };
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return { path, message: `must be <= ${schema['maximum']} (got ${describeValue(value)})` };
    case ValueErrorType.String:
    case ValueErrorType.Number:
    case ValueErrorType.Integer:
    case ValueErrorType.Boolean:
    case ValueErrorType.Null:
    case ValueErrorType.Array:
    case ValueErrorType.Object:
      return { path, message: `expected ${describeSchema(schema)}, got ${describeValue(value)}` };
    default:
      return { path, message: error.message };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rules the schema cannot express
// ---------------------------------------------------------------------------------------------------------------

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Problems with the `{…}` syntax of a template, or undefined. */
function templateSyntaxProblem(template: string): string | undefined {
  const stripped = template.replace(PLACEHOLDER, '');
  if (/[{}]/.test(stripped)) return `malformed template ${JSON.stringify(template)}; placeholders look like {setting_id}`;
  return undefined;
}

function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** http(s) URL, possibly templated; a leading placeholder may stand for a whole URL (`{instance_url}/api`). */
function urlProblem(template: string): string | undefined {
  const syntax = templateSyntaxProblem(template);
  if (syntax) return syntax;
  const concrete = template
    .replace(/^\{[A-Za-z_][A-Za-z0-9_]*\}(?=\/|$)/, 'https://placeholder.invalid')
    .replace(PLACEHOLDER, 'placeholder');
  let url: URL;
  try {
    url = new URL(concrete);
  } catch {
    return `must be an absolute http(s) URL (got ${describeValue(template)})`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http(s) URL (got ${describeValue(template)})`;
  return undefined;
}

type Problem = { path: PathSegment[]; message: string };

function duplicateIdProblem(items: { id?: string }[] | undefined, base: PathSegment[], what: string): Problem | undefined {
  const seen = new Map<string, number>();
  for (const [index, item] of (items ?? []).entries()) {
    if (item.id === undefined) continue;
    const earlier = seen.get(item.id);
    if (earlier !== undefined) {
      return { path: [...base, index, 'id'], message: `duplicate ${what} id '${item.id}' (also ${formatPath([...base, earlier])})` };
    }
    seen.set(item.id, index);
  }
  return undefined;
}

/** Cross-field rules, applied to a file that already matches `ConnectorFileSchema`. */
export function checkRules(file: ConnectorFile): Problem | undefined {
  const formFieldIds = (file.form_fields ?? []).map((f) => f.id);
  const known = new Set<string>([...formFieldIds, ...TEMPLATE_CREDENTIALS]);

  // unified_apis: no duplicates
  const apis = file.unified_apis;
  const dup = apis.findIndex((api, i) => apis.indexOf(api) !== i);
  if (dup >= 0) return { path: ['unified_apis', dup], message: `duplicate unified API '${apis[dup]}'` };

  // oauth iff auth_type oauth2
  if (file.auth_type === 'oauth2' && !file.oauth) return { path: ['oauth'], message: 'is required when auth_type is oauth2' };
  if (file.auth_type !== 'oauth2' && file.oauth) {
    return { path: ['oauth'], message: `is only allowed when auth_type is oauth2 (auth_type is ${file.auth_type})` };
  }

  // hosts: `*` or host entries as an operator would write them, lower-case
  for (const [index, entry] of (file.hosts ?? []).entries()) {
    if (entry === '*') continue;
    let normalized: string | null = null;
    try {
      normalized = normalizeHostEntry(entry);
    } catch {
      // reported below
    }
    if (normalized !== entry) return { path: ['hosts', index], message: `${describeValue(entry)} is not a lower-case host, host:port, *.domain or '*'` };
  }

  if (file.oauth) {
    const oauth = file.oauth;
    const isCode = oauth.grant_type === 'authorization_code';
    if (isCode && oauth.authorization_url === undefined) {
      return { path: ['oauth', 'authorization_url'], message: 'is required when grant_type is authorization_code' };
    }
    if (!isCode && oauth.authorization_url !== undefined) {
      return { path: ['oauth', 'authorization_url'], message: `is only used with grant_type authorization_code (grant_type is ${oauth.grant_type})` };
    }
    if (!isCode && oauth.pkce === true) {
      return { path: ['oauth', 'pkce'], message: `PKCE only applies to grant_type authorization_code (grant_type is ${oauth.grant_type})` };
    }
    if (!isCode && oauth.browser_binding !== undefined) {
      return { path: ['oauth', 'browser_binding'], message: `only applies to grant_type authorization_code (grant_type is ${oauth.grant_type})` };
    }
    for (const key of ['authorization_url', 'token_url', 'revocation_url', 'issuer'] as const) {
      const url = oauth[key];
      if (url === undefined) continue;
      const problem = urlProblem(url);
      if (problem) return { path: ['oauth', key], message: problem };
      // OAuth URLs are filled from the connection's settings before any token exists.
      const unknown = placeholders(url).find((name) => !formFieldIds.includes(name));
      if (unknown) return { path: ['oauth', key], message: `placeholder {${unknown}} is not a form field id` };
      // The client secret goes to these hosts: a setting may choose among listed hosts, never any host.
      if (key !== 'issuer' && settingsChooseHost(url)) {
        if (!file.hosts) return { path: ['oauth', key], message: `takes its host from settings; list the provider's hosts in \`hosts\`` };
        if (file.hosts.includes('*')) return { path: ['hosts'], message: `may not be '*' when OAuth endpoints take their host from settings (${key})` };
      }
    }
  }

  // form fields: unique ids
  const dupField = duplicateIdProblem(file.form_fields, ['form_fields'], 'form field');
  if (dupField) return dupField;

  // settings_required_for_authorization ⊆ form field ids
  for (const [index, id] of (file.settings_required_for_authorization ?? []).entries()) {
    if (!formFieldIds.includes(id)) {
      const list = formFieldIds.length ? formFieldIds.join(', ') : 'none';
      return { path: ['settings_required_for_authorization', index], message: `'${id}' is not a form field id (form fields: ${list})` };
    }
  }

  // plain URLs
  for (const key of ['website', 'icon', 'logo'] as const) {
    const url = file[key];
    if (url === undefined || (url === '' && key !== 'website')) continue;
    const problem = urlProblem(url);
    if (problem) return { path: [key], message: problem };
  }

  // proxy: URL template + credential templates
  if (file.proxy) {
    const problem = urlProblem(file.proxy.base_url);
    if (problem) return { path: ['proxy', 'base_url'], message: problem };
    if (settingsChooseHost(file.proxy.base_url) && !file.hosts) {
      return { path: ['proxy', 'base_url'], message: "takes its host from settings; list the provider's hosts in `hosts` ('*' for any public host)" };
    }
    const templates: [string, string][] = [['base_url', file.proxy.base_url]];
    const auth = file.proxy.auth;
    for (const key of ['value', 'username', 'password'] as const) {
      if (key in auth) templates.push([`auth.${key}`, (auth as Record<string, string>)[key]]);
    }
    for (const [name, value] of Object.entries(file.proxy.headers ?? {})) templates.push([`headers.${name}`, value]);
    for (const [where, template] of templates) {
      const path: PathSegment[] = ['proxy', ...where.split('.')];
      const syntax = templateSyntaxProblem(template);
      if (syntax) return { path, message: syntax };
      const unknown = placeholders(template).find((name) => !known.has(name));
      if (unknown) {
        return { path, message: `placeholder {${unknown}} is neither a form field id nor one of: ${TEMPLATE_CREDENTIALS.join(', ')}` };
      }
    }
  }

  if (file.verification && !file.proxy) {
    return { path: ['verification'], message: 'needs proxy.base_url to resolve its path; add a proxy section' };
  }

  // resources: unique setting ids and custom field ids
  for (const [name, resource] of Object.entries(file.resources ?? {})) {
    const problem =
      duplicateIdProblem(resource.settings, ['resources', name, 'settings'], 'setting') ??
      duplicateIdProblem(resource.custom_fields, ['resources', name, 'custom_fields'], 'custom field');
    if (problem) return problem;
  }

  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------------------------

function oauthDefaults(oauth: NonNullable<ConnectorFile['oauth']>): OAuthSettings {
  const out: OAuthSettings = {
    grant_type: oauth.grant_type,
    token_url: oauth.token_url,
    scopes: oauth.scopes ?? [],
    scope_separator: oauth.scope_separator ?? ' ',
    pkce: oauth.pkce ?? oauth.grant_type === 'authorization_code',
    authorize_params: oauth.authorize_params ?? {},
    token_params: oauth.token_params ?? {},
    client_auth: oauth.client_auth ?? 'client_secret_basic',
  };
  if (oauth.authorization_url !== undefined) out.authorization_url = oauth.authorization_url;
  if (oauth.revocation_url !== undefined) out.revocation_url = oauth.revocation_url;
  if (oauth.issuer !== undefined) out.issuer = oauth.issuer;
  if (oauth.iss_parameter_supported !== undefined) out.iss_parameter_supported = oauth.iss_parameter_supported;
  if (oauth.browser_binding !== undefined) out.browser_binding = oauth.browser_binding;
  return out;
}

function resourceDefaults(resource: NonNullable<ConnectorFile['resources']>[string]): ResourceDefinition {
  const { custom_fields, custom_fields_discovery, ...rest } = resource;
  const out: ResourceDefinition = { ...rest };
  if (custom_fields_discovery) out.custom_fields_discovery = { method: custom_fields_discovery.method ?? 'GET', ...custom_fields_discovery };
  if (custom_fields) {
    out.custom_fields = custom_fields.map((f) => ({
      id: f.id,
      name: f.name ?? null,
      description: f.description ?? null,
      finder: f.finder,
    }));
  }
  return out;
}

/** Field ids that name a secret: sealed at rest and masked in every answer whatever the file says. */
const SECRET_NAME = /(^|_)(secret|password|passwd|passphrase|token|api_?key|apikey|private_?key|secret_?key|access_?key|credentials?)($|_)/i;

/** A field is sensitive when declared so, when it is a password field, or when its id names a secret. */
export function isSecretField(field: FormField): boolean {
  return field.sensitive === true || field.type === 'password' || SECRET_NAME.test(field.id);
}

/** Fills every optional file-level field; the input must already satisfy the schema and `checkRules`. */
export function applyDefaults(file: ConnectorFile): ConnectorFileDefinition {
  const out: ConnectorFileDefinition = {
    id: file.id,
    name: file.name,
    tag_line: file.tag_line ?? '',
    website: file.website,
    icon: file.icon ?? '',
    logo: file.logo ?? '',
    status: file.status ?? 'live',
    unified_apis: [...file.unified_apis],
    auth_type: file.auth_type,
    hosts: file.hosts ?? [],
    form_fields: (file.form_fields ?? []).map((f) => (isSecretField(f) && !f.sensitive ? { ...f, sensitive: true } : f)),
    settings_required_for_authorization: file.settings_required_for_authorization ?? [],
    resources: Object.fromEntries(Object.entries(file.resources ?? {}).map(([k, r]) => [k, resourceDefaults(r)])),
    migration_targets: file.migration_targets ?? [],
    has_guide: file.has_guide ?? false,
  };
  if (file.oauth) out.oauth = oauthDefaults(file.oauth);
  if (file.proxy) out.proxy = file.proxy;
  if (file.verification) {
    const verification: VerificationRequest = {
      method: file.verification.method ?? 'GET',
      path: file.verification.path,
      success_statuses: file.verification.success_statuses ?? [200],
    };
    out.verification = verification;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------------------------

/** Schema, then rules, then defaults. Reports the first problem only. Does not mutate `raw`. */
export function validateConnectorFile(raw: unknown): ValidationResult {
  if (raw === null || raw === undefined) return { ok: false, problem: { path: '(root)', message: 'file is empty' } };
  const schemaProblem = firstProblem(ConnectorFileSchema, raw, []);
  if (schemaProblem) return { ok: false, problem: { path: formatPath(schemaProblem.path), message: schemaProblem.message } };
  const file = structuredClone(raw) as ConnectorFile;
  const ruleProblem = checkRules(file);
  if (ruleProblem) return { ok: false, problem: { path: formatPath(ruleProblem.path), message: ruleProblem.message } };
  return { ok: true, value: applyDefaults(file) };
}
