import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Catalogue,
  ConnectorDefinitionError,
  builtinCatalogueDir,
  loadCatalogue,
  loadConnectorDir,
  loadConnectorFile,
} from '../../src/connectors/loader.js';
import { formatPath, validateConnectorFile } from '../../src/connectors/schema.js';
import type { ConnectorDefinition } from '../../src/connectors/types.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const tempDirs: string[] = [];
function tempDir(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-connectors-'));
  tempDirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads `text` as `name` in a fresh dir and returns the thrown ConnectorDefinitionError. */
function loadError(name: string, text: string): ConnectorDefinitionError {
  const file = path.join(tempDir({ [name]: text }), name);
  try {
    loadConnectorFile(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorDefinitionError);
    const error = err as ConnectorDefinitionError;
    expect(error.message).not.toContain('\n');
    expect(error.message.startsWith(`${file}: `)).toBe(true);
    return error;
  }
  throw new Error(`expected ${name} to be rejected`);
}

const MINIMAL = `
id: acme
name: Acme
website: https://acme.example
unified_apis: [crm]
auth_type: apiKey
form_fields:
  - { id: api_key, label: API key, type: password, sensitive: true, required: true }
proxy:
  base_url: https://api.acme.example/v1
  auth: { type: header, name: X-Api-Key, value: "{api_key}" }
`;

const OAUTH = `
id: acme
name: Acme
website: https://acme.example
unified_apis: [crm]
auth_type: oauth2
oauth:
  grant_type: authorization_code
  authorization_url: https://acme.example/oauth/authorize
  token_url: https://acme.example/oauth/token
`;

describe('built-in catalogue', () => {
  const dir = builtinCatalogueDir();
  const files = fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

  it('lives in src/connectors/catalogue', () => {
    expect(path.isAbsolute(dir)).toBe(true);
    expect(dir.split(path.sep).slice(-3)).toEqual(['src', 'connectors', 'catalogue']);
  });

  it.each(files)('%s validates and is named after its id', (file) => {
    const def = loadConnectorFile(path.join(dir, file));
    expect(def.id).toBe(file.replace(/\.(ya?ml|json)$/, ''));
    expect(def.source).toBe(path.join(dir, file));
  });

  const catalogue = loadCatalogue({});
  const all = catalogue.all();

  it('loads every file, sorted by id', () => {
    expect(all).toHaveLength(files.length);
    expect(catalogue.ids()).toEqual([...catalogue.ids()].sort());
    for (const id of ['pipedrive', 'bamboohr', 'hubspot', 'salesforce', 'personio', 'jsonplaceholder', 'zendesk']) {
      expect(catalogue.get(id), id).toBeDefined();
    }
  });

  it('covers every auth type: apiKey, basic, custom, none and oauth2 (authorization_code and client_credentials)', () => {
    const kinds = new Set(all.map((d) => (d.auth_type === 'oauth2' ? `oauth2:${d.oauth?.grant_type}` : d.auth_type)));
    for (const kind of ['apiKey', 'basic', 'custom', 'oauth2:authorization_code', 'oauth2:client_credentials', 'none']) {
      expect(kinds.has(kind), kind).toBe(true);
    }
  });

  it('holds at least 60 connectors, spread over the unified APIs', () => {
    expect(all.length).toBeGreaterThanOrEqual(60);
    const apis = new Set(all.flatMap((d) => d.unified_apis));
    for (const api of ['crm', 'accounting', 'hris', 'ats', 'file-storage', 'ecommerce', 'issue-tracking', 'email-marketing', 'team-messaging']) {
      expect(apis.has(api), api).toBe(true);
    }
  });

  it("includes the vendors behind Auth0 Flows' app ids that have a public API", () => {
    for (const id of [
      'activecampaign', 'airtable', 'hubspot', 'mailchimp', 'mailjet', 'pipedrive', 'salesforce', 'sendgrid', 'slack',
      'stripe', 'twilio', 'telegram', 'docusign', 'google-sheets', 'google-bigquery', 'clearbit', 'whatsapp', 'zapier',
    ]) {
      expect(catalogue.get(id), id).toBeDefined();
    }
  });

  it('is listed in the README (npm run connectors:readme)', () => {
    const readme = fs.readFileSync(path.join(dir, '../../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- connectors:start -->'), readme.indexOf('<!-- connectors:end -->'));
    expect(table).toContain(`${all.length} connectors.`);
    for (const def of all) expect(table, def.id).toContain(`| ${def.id} | ${def.name} |`);
  });

  it('marks credentials sensitive and masks them', () => {
    for (const def of all) {
      for (const field of def.form_fields) {
        if (/secret|password|token|api_key|client_id/i.test(field.id)) {
          expect(field, `${def.id}.${field.id}`).toMatchObject({ sensitive: true, type: 'password' });
        }
        if (field.sensitive) expect(field.type, `${def.id}.${field.id}`).toBe('password');
      }
    }
  });

  it('gives every connector a proxy and the authenticated ones a verification request', () => {
    for (const def of all) {
      expect(def.proxy, def.id).toBeDefined();
      if (def.auth_type !== 'none') expect(def.verification, def.id).toBeDefined();
    }
  });

  it('applies defaults', () => {
    const hubspot = catalogue.get('hubspot')!;
    expect(hubspot.status).toBe('live');
    expect(hubspot.has_guide).toBe(false);
    expect(hubspot.icon).toBe('');
    expect(hubspot.migration_targets).toEqual([]);
    expect(hubspot.oauth).toMatchObject({ pkce: false, authorize_params: {}, token_params: {}, scope_separator: ' ' });
    const personio = catalogue.get('personio')!;
    expect(personio.oauth).toMatchObject({ grant_type: 'client_credentials', pkce: false, scopes: [] });
    expect(personio.settings_required_for_authorization).toEqual(['client_id', 'client_secret']);
    expect(personio.form_fields.filter((f) => f.required && f.sensitive).map((f) => f.id)).toEqual(['client_id', 'client_secret']);
    expect(catalogue.get('jsonplaceholder')!.form_fields).toEqual([]);
  });

  it('describes the connector-specific parts', () => {
    expect(catalogue.get('pipedrive')!.proxy!.auth).toEqual({ type: 'query', name: 'api_token', value: '{api_key}' });
    expect(catalogue.get('bamboohr')!.proxy).toEqual({
      base_url: 'https://api.bamboohr.com/api/gateway.php/{subdomain}/v1',
      auth: { type: 'basic', username: '{api_key}', password: 'x' },
    });
    expect(catalogue.get('hubspot')!.unified_apis).toEqual(['crm', 'lead']);
    expect(catalogue.forUnifiedApi('hris').map((d) => d.id)).toEqual(expect.arrayContaining(['bamboohr', 'personio']));
  });

  it('gives salesforce leads and opportunities a schema, an example, settings and custom field finders', () => {
    const sf = catalogue.get('salesforce')!;
    expect(sf.oauth).toMatchObject({ grant_type: 'authorization_code', pkce: true });
    expect(sf.oauth!.revocation_url).toMatch(/^https:\/\//);
    for (const name of ['leads', 'opportunities']) {
      const resource = sf.resources[name];
      expect(resource, name).toBeDefined();
      expect(resource.schema).toMatchObject({ type: 'object' });
      expect(resource.example).toHaveProperty('Id');
      expect(resource.settings!.length).toBeGreaterThan(0);
      expect(resource.custom_fields!.length).toBeGreaterThan(0);
      for (const finder of resource.custom_fields!) {
        // Every finder resolves against the example record (simple `$.Field` paths).
        const key = finder.finder.replace(/^\$\./, '');
        expect(resource.example, `${name} ${finder.finder}`).toHaveProperty(key);
        expect(finder).toHaveProperty('description');
      }
    }
    const leadSource = sf.resources.leads.settings!.find((f) => f.id === 'default_lead_source')!;
    expect(leadSource.type).toBe('select');
    expect(leadSource.options!.map((o) => o.option_type)).toEqual(Array(leadSource.options!.length).fill('simple'));
  });
});

describe('user connectors directory', () => {
  it('adds a connector and overrides a built-in by id', () => {
    const dir = tempDir({
      'acme.yaml': MINIMAL,
      'pipedrive.json': JSON.stringify({
        id: 'pipedrive',
        name: 'Pipedrive (EU proxy)',
        website: 'https://www.pipedrive.com',
        unified_apis: ['crm'],
        auth_type: 'none',
        proxy: { base_url: 'http://localhost:8080/pipedrive', auth: { type: 'none' } },
      }),
      'README.md': '# not a connector',
    });
    const builtin = loadCatalogue({});
    const catalogue = loadCatalogue({ userDir: dir });
    expect(catalogue.ids()).toEqual([...builtin.ids(), 'acme'].sort());
    expect(catalogue.get('acme')!.source).toBe(path.join(dir, 'acme.yaml'));
    expect(catalogue.get('pipedrive')).toMatchObject({ name: 'Pipedrive (EU proxy)', auth_type: 'none' });
    expect(catalogue.get('pipedrive')!.source).toBe(path.join(dir, 'pipedrive.json'));
    expect(catalogue.get('hubspot')).toEqual(builtin.get('hubspot'));
  });

  it('rejects a missing directory', () => {
    const missing = path.join(os.tmpdir(), 'coffer-no-such-dir-' + process.pid);
    expect(() => loadCatalogue({ userDir: missing })).toThrow(ConnectorDefinitionError);
    expect(() => loadConnectorDir(missing)).toThrow(missing);
  });

  it('rejects duplicate ids within one directory, naming both files', () => {
    const dir = tempDir({ 'a.yaml': MINIMAL, 'b.yml': MINIMAL });
    expect(() => loadConnectorDir(dir)).toThrow(
      `${path.join(dir, 'b.yml')}: id: duplicate connector id 'acme' (also defined in ${path.join(dir, 'a.yaml')})`,
    );
  });

  it('Catalogue lets later definitions win', () => {
    const one = { ...loadConnectorFile(path.join(tempDir({ 'acme.yaml': MINIMAL }), 'acme.yaml')) };
    const two: ConnectorDefinition = { ...one, name: 'Acme 2' };
    const catalogue = new Catalogue([one, two]);
    expect(catalogue.ids()).toEqual(['acme']);
    expect(catalogue.get('acme')!.name).toBe('Acme 2');
    expect(catalogue.get('nope')).toBeUndefined();
  });
});

describe('broken connector files', () => {
  it('accepts the minimal fixtures', () => {
    expect(validateConnectorFile(undefined).ok).toBe(false);
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': MINIMAL }), 'acme.yaml')).id).toBe('acme');
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': OAUTH }), 'acme.yaml')).oauth).toMatchObject({
      pkce: true,
      client_auth: 'client_secret_basic',
      scopes: [],
    });
  });

  it('names the field for a wrong auth_type', () => {
    const error = loadError('acme.yaml', MINIMAL.replace('auth_type: apiKey', 'auth_type: 42'));
    expect(error.field).toBe('auth_type');
    expect(error.message).toMatch(/acme\.yaml: auth_type: must be one of: oauth2, apiKey, basic, custom, none \(got number 42\)$/);
  });

  it('names oauth.token_url when it is missing', () => {
    const error = loadError('acme.yaml', OAUTH.replace(/^ {2}token_url:.*$/m, ''));
    expect(error.field).toBe('oauth.token_url');
    expect(error.message).toContain('acme.yaml: oauth.token_url: is required');
  });

  it('takes oauth.browser_binding for the authorization-code flow only', () => {
    const unbound = OAUTH.replace('  token_url:', '  browser_binding: false\n  token_url:');
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': unbound }), 'acme.yaml')).oauth?.browser_binding).toBe(false);
    const clientCredentials = unbound.replace('grant_type: authorization_code', 'grant_type: client_credentials').replace(/^ {2}authorization_url:.*\n/m, '');
    const error = loadError('acme.yaml', clientCredentials);
    expect(error.field).toBe('oauth.browser_binding');
    expect(error.message).toContain('only applies to grant_type authorization_code');
    expect(loadError('acme.yaml', OAUTH.replace('  token_url:', '  browser_binding: "no"\n  token_url:')).field).toBe('oauth.browser_binding');
  });

  it('asks for `hosts` where a setting chooses the host of a URL, and never takes `*` for OAuth endpoints', () => {
    const templated = OAUTH.replace('https://acme.example/oauth/authorize', '"{instance_url}/oauth/authorize"')
      .replace('https://acme.example/oauth/token', '"{instance_url}/oauth/token"')
      .concat('form_fields:\n  - { id: instance_url, label: Instance, type: url }\n');
    const missing = loadError('acme.yaml', templated);
    expect(missing.field).toBe('oauth.authorization_url');
    expect(missing.message).toContain('list the provider\'s hosts in `hosts`');
    const withHosts = templated.replace('auth_type: oauth2', 'auth_type: oauth2\nhosts: [acme.example, "*.acme-eu.example"]');
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': withHosts }), 'acme.yaml')).hosts).toEqual(['acme.example', '*.acme-eu.example']);
    expect(loadError('acme.yaml', templated.replace('auth_type: oauth2', 'auth_type: oauth2\nhosts: ["*"]')).field).toBe('hosts');
    // A country placed at the end of a host chooses the domain itself.
    const country = OAUTH.replace('https://acme.example/oauth/authorize', 'https://start.acme.{country}/oauth/authorize').concat(
      'form_fields:\n  - { id: country, label: Country, type: text }\n',
    );
    expect(loadError('acme.yaml', country).field).toBe('oauth.authorization_url');
    // A subdomain in front of a fixed domain cannot leave it: no list needed.
    const subdomain = OAUTH.replace('https://acme.example/oauth/authorize', 'https://{tenant}.acme.example/oauth/authorize').concat(
      'form_fields:\n  - { id: tenant, label: Tenant, type: text }\n',
    );
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': subdomain }), 'acme.yaml')).hosts).toEqual([]);
    // An API base of a self-hosted product may say any host; a malformed entry is refused.
    const anyStore = MINIMAL.replace('https://api.acme.example/v1', '"{store_url}/v1"').replace('form_fields:', 'form_fields:\n  - { id: store_url, label: Store, type: url }');
    expect(loadError('acme.yaml', anyStore).field).toBe('proxy.base_url');
    expect(loadConnectorFile(path.join(tempDir({ 'acme.yaml': anyStore.replace('auth_type: apiKey', 'auth_type: apiKey\nhosts: ["*"]') }), 'acme.yaml')).hosts).toEqual(['*']);
    const bad = loadError('acme.yaml', anyStore.replace('auth_type: apiKey', 'auth_type: apiKey\nhosts: ["https://acme.example/"]'));
    expect(bad.field).toBe('hosts[0]');
  });

  it('adds operator hosts (COFFER_PROVIDER_HOSTS) to a connector, and refuses unknown connectors and bad entries', () => {
    const config = loadConfig({ COFFER_PROVIDER_HOSTS: 'gitlab=GitLab.Acme.example, gitlab=*.git.acme.example,exact-online=start.exactonline.com' });
    expect(config.providerHosts).toEqual({ gitlab: ['gitlab.acme.example', '*.git.acme.example'], 'exact-online': ['start.exactonline.com'] });
    const catalogue = loadCatalogue({ extraHosts: config.providerHosts });
    expect(catalogue.get('gitlab')!.hosts).toEqual(['gitlab.com', 'gitlab.acme.example', '*.git.acme.example']);
    expect(() => loadCatalogue({ extraHosts: { 'no-such-connector': ['a.example'] } })).toThrow(/COFFER_PROVIDER_HOSTS: no-such-connector: is not a connector id/);
    for (const bad of ['gitlab', 'gitlab=*', 'gitlab=https://gitlab.acme.example', 'gitlab=a=b']) {
      expect(() => loadConfig({ COFFER_PROVIDER_HOSTS: bad }), bad).toThrow(ConfigError);
    }
  });

  it('reports invalid YAML with the file and position', () => {
    const error = loadError('acme.yaml', 'id: acme\nunified_apis: [crm\nname: x\n');
    expect(error.message).toMatch(/acme\.yaml: line \d+, column \d+: invalid YAML: /);
  });

  it('reports invalid JSON with the file', () => {
    expect(loadError('acme.json', '{"id": "acme",}').message).toMatch(/acme\.json: \(parse\): invalid JSON: /);
  });

  it('reports an empty file', () => {
    expect(loadError('acme.yaml', '# nothing here\n').message).toMatch(/acme\.yaml: \(root\): file is empty$/);
  });

  const cases: [string, string, string, RegExp][] = [
    ['typo suggests the right name', OAUTH.replace('token_url:', 'tokn_url:'), 'oauth.tokn_url', /unknown property; did you mean 'token_url'\?/],
    ['unknown top-level property', MINIMAL + 'colour: blue\n', 'colour', /unknown property/],
    ['bad id', MINIMAL.replace('id: acme', 'id: Acme_CRM'), 'id', /must match/],
    ['unknown unified API', MINIMAL.replace('[crm]', '[crm, crmm]'), 'unified_apis[1]', /must be one of: accounting, ats/],
    ['empty unified_apis', MINIMAL.replace('[crm]', '[]'), 'unified_apis', /at least 1 item/],
    ['wrong form field type', MINIMAL.replace('type: password,', 'type: secret,'), 'form_fields[0].type', /must be one of: text, /],
    ['wrong type of nullable field', MINIMAL.replace('required: true', 'placeholder: 5'), 'form_fields[0].placeholder', /expected a string or null, got number 5/],
    ['bad option inside a select', MINIMAL.replace('required: true }', 'options: [{ label: A, value: a, option_type: simple, extra: 1 }] }'), 'form_fields[0].options[0].extra', /unknown property/],
    ['bad option_type', MINIMAL.replace('required: true }', 'options: [{ label: A, value: a, option_type: simpel }] }'), 'form_fields[0].options[0].option_type', /must be one of: simple, group/],
    ['bad proxy injection type', MINIMAL.replace('type: header,', 'type: cookie,'), 'proxy.auth.type', /must be one of: bearer, header, query, basic, none/],
    ['missing field in injection', MINIMAL.replace(', name: X-Api-Key', ''), 'proxy.auth.name', /is required/],
    ['oauth missing for oauth2', MINIMAL.replace('auth_type: apiKey', 'auth_type: oauth2'), 'oauth', /required when auth_type is oauth2/],
    ['oauth on a non-oauth connector', OAUTH.replace('auth_type: oauth2', 'auth_type: apiKey'), 'oauth', /only allowed when auth_type is oauth2/],
    ['authorization_url missing', OAUTH.replace(/^ {2}authorization_url:.*$/m, ''), 'oauth.authorization_url', /required when grant_type is authorization_code/],
    ['authorization_url with client_credentials', OAUTH.replace('grant_type: authorization_code', 'grant_type: client_credentials'), 'oauth.authorization_url', /only used with grant_type authorization_code/],
    ['non-http URL', OAUTH.replace('https://acme.example/oauth/token', 'ftp://acme.example/token'), 'oauth.token_url', /http\(s\) URL/],
    ['relative URL', MINIMAL.replace('https://api.acme.example/v1', '/v1'), 'proxy.base_url', /absolute http\(s\) URL/],
    ['malformed template', MINIMAL.replace('https://api.acme.example/v1', 'https://{sub.acme.example/v1'), 'proxy.base_url', /malformed template/],
    ['unknown placeholder', MINIMAL.replace('"{api_key}"', '"{apikey}"'), 'proxy.auth.value', /placeholder \{apikey\} is neither a form field id/],
    ['duplicate form field id', MINIMAL.replace('form_fields:\n', 'form_fields:\n  - { id: api_key, label: Other, type: text }\n'), 'form_fields[1].id', /duplicate form field id 'api_key' \(also form_fields\[0\]\)/],
    ['setting required for authorization is not a field', MINIMAL + 'settings_required_for_authorization: [subdomain]\n', 'settings_required_for_authorization[0]', /'subdomain' is not a form field id/],
    ['verification without proxy', OAUTH + 'verification: { path: /me }\n', 'verification', /needs proxy/],
    ['verification path not absolute', MINIMAL + 'verification: { path: me }\n', 'verification.path', /must match \^\//],
    ['bad resource name', MINIMAL + 'resources:\n  Leads: {}\n', 'resources.Leads', /invalid key "Leads"/],
    ['bad custom field finder', MINIMAL + 'resources:\n  leads:\n    custom_fields: [{ id: x, finder: Industry }]\n', 'resources.leads.custom_fields[0].finder', /must match/],
  ];
  it.each(cases)('%s', (_name, text, field, problem) => {
    const error = loadError('acme.yaml', text);
    expect(error.field).toBe(field);
    expect(error.problem).toMatch(problem);
    expect(error.message).toContain(`acme.yaml: ${field}: `);
  });
});

describe('formatPath', () => {
  it('writes dotted/bracket paths', () => {
    expect(formatPath([])).toBe('(root)');
    expect(formatPath(['form_fields', 2, 'type'])).toBe('form_fields[2].type');
    expect(formatPath(['oauth', 'token_params', 'a.b'])).toBe('oauth.token_params["a.b"]');
  });
});
