// Which connectors an application offers, and the checks every connection path starts with.
import type { ConnectorDefinition } from '../connectors/types.js';
import type { VaultContext } from './context.js';
import { badRequest, notFound } from './errors.js';
import type { AppConnectorRow } from './connection-view.js';
import type { CachedAppConnector } from './tenant-cache.js';
import { listAppConnectors } from '../store/applications.js';

export const UNIFIED_APIS = [
  'accounting', 'ats', 'calendar', 'crm', 'csp', 'customer-support', 'ecommerce', 'email', 'email-marketing',
  'expense-management', 'file-storage', 'form', 'hris', 'lead', 'payroll', 'pos', 'procurement', 'project-management',
  'script', 'sms', 'spreadsheet', 'subscription-analytics', 'team-messaging', 'issue-tracking', 'time-registration',
  'transactional-email', 'vault', 'data-warehouse',
] as const;

export function checkUnifiedApi(unifiedApi: string): void {
  if (!(UNIFIED_APIS as readonly string[]).includes(unifiedApi)) {
    throw badRequest(`Unknown unified API "${unifiedApi}"`, { invalid: [{ unified_api: `must be one of ${UNIFIED_APIS.join(', ')}` }] });
  }
}

export interface Integration {
  def: ConnectorDefinition;
  appConnector: AppConnectorRow & { scopes?: string | null };
}

async function appConnectors(ctx: VaultContext, applicationId: string): Promise<CachedAppConnector[]> {
  const cached = ctx.cache.connectorsOf(applicationId);
  if (cached) return cached;
  const rows = await listAppConnectors(ctx.db, applicationId);
  ctx.cache.rememberConnectors(applicationId, rows);
  return rows;
}

/** The connector behind `/{unified_api}/{service_id}`, if this application has it enabled. */
export async function resolveIntegration(ctx: VaultContext, applicationId: string, unifiedApi: string, serviceId: string): Promise<Integration> {
  checkUnifiedApi(unifiedApi);
  const def = ctx.catalogue.get(serviceId);
  if (!def || !def.unified_apis.includes(unifiedApi)) throw notFound('connector', `${unifiedApi}+${serviceId}`);
  const appConnector = (await appConnectors(ctx, applicationId)).find((row) => row.service_id === serviceId);
  if (!appConnector || appConnector.enabled !== 1) throw notFound('connector', `${unifiedApi}+${serviceId}`);
  return { def, appConnector };
}

export async function enabledIntegrations(ctx: VaultContext, applicationId: string): Promise<Integration[]> {
  const rows = (await appConnectors(ctx, applicationId)).filter((row) => row.enabled === 1);
  const out: Integration[] = [];
  for (const row of rows) {
    const def = ctx.catalogue.get(row.service_id);
    if (def) out.push({ def, appConnector: row });
  }
  return out.sort((a, b) => a.def.id.localeCompare(b.def.id));
}
