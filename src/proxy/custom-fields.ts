// `…/{resource}/custom-fields`: the fields a connector declares, plus those found live at the provider when the
// connector defines a discovery request (run with the consumer's credentials).
import { JSONPath } from 'jsonpath-plus';
import type { ConnectorDefinition, CustomFieldDiscovery } from '../connectors/types.js';
import type { RefreshCoordinator } from '../oauth/refresh.js';
import { withUsableToken } from '../oauth/tokens-service.js';
import { loadConnection, type Scope } from '../vault/connection-mutation.js';
import { listCustomFields } from '../vault/connections.js';
import type { VaultContext } from '../vault/context.js';
import { credentialsRejected, notFound, VaultError } from '../vault/errors.js';
import { resolveIntegration } from '../vault/integrations.js';
import { callUpstream, providerMessage } from './upstream-call.js';

interface CustomFieldFinder {
  id: string;
  name: string | null;
  description: string | null;
  value: unknown;
  finder: string;
}

// Filters such as `$.fields[?(@.custom)]` (the documented example) need script evaluation: jsonpath-plus's `safe`
// evaluator (a restricted interpreter, no `eval`/`Function`) runs them; `eval: false` would reject every filter.
const first = (path: string | undefined, item: unknown): unknown =>
  path ? JSONPath({ path, json: item as object, wrap: true, eval: 'safe' })[0] : undefined;

export function readDiscoveredFields(spec: CustomFieldDiscovery, body: unknown): CustomFieldFinder[] {
  const items = JSONPath({ path: spec.items, json: body as object, wrap: true, eval: 'safe', flatten: true }) as unknown[];
  const out: CustomFieldFinder[] = [];
  for (const item of items) {
    const id = first(spec.id, item);
    if (typeof id !== 'string' && typeof id !== 'number') continue;
    const name = first(spec.name, item);
    const description = first(spec.description, item);
    out.push({
      id: String(id),
      name: typeof name === 'string' ? name : null,
      description: typeof description === 'string' ? description : null,
      value: null,
      finder: spec.finder.split('{id}').join(String(id)),
    });
  }
  return out;
}

async function discover(ctx: VaultContext, refresher: RefreshCoordinator, scope: Scope, def: ConnectorDefinition, unifiedApi: string, spec: CustomFieldDiscovery) {
  const integration = await resolveIntegration(ctx, scope.applicationId, unifiedApi, def.id);
  let rec = await loadConnection(ctx, scope, def.id);
  if (!rec) throw notFound('connection', `${unifiedApi}+${def.id}`);
  if (def.auth_type === 'oauth2') rec = await withUsableToken(ctx, refresher, scope, integration, unifiedApi, rec);
  const token = rec.credentials?.access_token ?? null;
  const response = await callUpstream(ctx, def, rec.settings, token, { method: spec.method, path: spec.path });
  const secrets = [token, ...def.form_fields.filter((f) => f.sensitive).map((f) => rec!.settings[f.id])].filter((v): v is string => typeof v === 'string');
  if (response.status === 401 || response.status === 403) throw credentialsRejected(def.name, response.status, providerMessage(response.text, secrets));
  if (response.status < 200 || response.status >= 300) {
    throw new VaultError(502, 'ConnectorExecutionError', `${def.name} answered ${response.status} to the custom-field request`, providerMessage(response.text, secrets));
  }
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new VaultError(502, 'ConnectorExecutionError', `${def.name} answered the custom-field request with something other than JSON`);
  }
  return readDiscoveredFields(spec, body);
}

export async function customFieldsFor(ctx: VaultContext, refresher: RefreshCoordinator, scope: Scope, unifiedApi: string, serviceId: string, resource: string) {
  const declared = (await listCustomFields(ctx, scope, unifiedApi, serviceId, resource)) as CustomFieldFinder[];
  const def = ctx.catalogue.get(serviceId)!;
  const spec = def.resources[resource]?.custom_fields_discovery;
  if (!spec) return declared;
  const discovered = await discover(ctx, refresher, scope, def, unifiedApi, spec);
  const ids = new Set(discovered.map((f) => f.id));
  return [...declared.filter((f) => !ids.has(f.id)), ...discovered];
}
