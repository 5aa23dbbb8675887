// Custom mappings: a consumer's JSONPath for a target field `<unified_api>+<resource>+<key>`.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { CustomMappingView } from './connection-view.js';
import { badRequest, notFound } from './errors.js';
import type { Scope } from './connection-mutation.js';

type Db = Kysely<Database> | Transaction<Database>;

const TARGET = /^([a-z-]+)\+([A-Za-z0-9_-]+)\+([A-Za-z0-9_.\-[\]]+)$/;

export function parseTargetFieldId(unifiedApi: string, targetFieldId: string): { resource: string; key: string } {
  const match = TARGET.exec(targetFieldId);
  if (!match) throw badRequest(`target_field_id "${targetFieldId}" must look like <unified_api>+<resource>+<field>`);
  if (match[1] !== unifiedApi) throw badRequest(`target_field_id "${targetFieldId}" belongs to ${match[1]}, not ${unifiedApi}`);
  return { resource: match[2], key: match[3] };
}

export function checkJsonPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('$')) {
    throw badRequest('value must be a JSONPath expression starting with "$"', { invalid: [{ value: 'JSONPath starting with $' }] });
  }
  return value;
}

function toView(row: { target_field_id: string; value: string; consumer_id: string }): CustomMappingView {
  const key = row.target_field_id.split('+')[2];
  return {
    id: row.target_field_id,
    label: key.replace(/[_.-]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase()),
    description: null,
    value: row.value,
    key,
    required: false,
    custom_field: true,
    consumer_id: row.consumer_id,
    example: null,
  };
}

export async function listCustomMappings(db: Db, scope: Scope, unifiedApi: string, serviceId: string, resource?: string): Promise<CustomMappingView[]> {
  let query = db
    .selectFrom('custom_mappings')
    .select(['target_field_id', 'value', 'consumer_id'])
    .where('application_id', '=', scope.applicationId)
    .where('consumer_id', '=', scope.consumerId)
    .where('unified_api', '=', unifiedApi)
    .where('service_id', '=', serviceId);
  if (resource) query = query.where('target_field_id', 'like', `${unifiedApi}+${resource}+%`);
  const rows = await query.orderBy('target_field_id').execute();
  return rows.map(toView);
}

export async function getCustomMapping(db: Db, scope: Scope, unifiedApi: string, serviceId: string, targetFieldId: string): Promise<CustomMappingView> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const row = await db
    .selectFrom('custom_mappings')
    .select(['target_field_id', 'value', 'consumer_id'])
    .where('application_id', '=', scope.applicationId)
    .where('consumer_id', '=', scope.consumerId)
    .where('unified_api', '=', unifiedApi)
    .where('service_id', '=', serviceId)
    .where('target_field_id', '=', targetFieldId)
    .executeTakeFirst();
  if (!row) throw notFound('custom mapping', targetFieldId);
  return toView(row);
}

export async function putCustomMapping(
  db: Db,
  scope: Scope,
  unifiedApi: string,
  serviceId: string,
  targetFieldId: string,
  value: unknown,
  mode: 'create' | 'update' | 'upsert',
): Promise<CustomMappingView> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const path = checkJsonPath(value);
  const now = Date.now();
  const where = {
    application_id: scope.applicationId,
    consumer_id: scope.consumerId,
    unified_api: unifiedApi,
    service_id: serviceId,
    target_field_id: targetFieldId,
  };
  const existing = await db
    .selectFrom('custom_mappings')
    .select('value')
    .where('application_id', '=', where.application_id)
    .where('consumer_id', '=', where.consumer_id)
    .where('unified_api', '=', unifiedApi)
    .where('service_id', '=', serviceId)
    .where('target_field_id', '=', targetFieldId)
    .executeTakeFirst();
  if (!existing && mode === 'update') throw notFound('custom mapping', targetFieldId);
  if (existing) {
    await db
      .updateTable('custom_mappings')
      .set({ value: path, updated_at: now })
      .where('application_id', '=', where.application_id)
      .where('consumer_id', '=', where.consumer_id)
      .where('unified_api', '=', unifiedApi)
      .where('service_id', '=', serviceId)
      .where('target_field_id', '=', targetFieldId)
      .execute();
  } else {
    await db.insertInto('custom_mappings').values({ ...where, value: path, created_at: now, updated_at: now }).execute();
  }
  return toView({ target_field_id: targetFieldId, value: path, consumer_id: scope.consumerId });
}

export async function deleteCustomMapping(db: Db, scope: Scope, unifiedApi: string, serviceId: string, targetFieldId: string): Promise<void> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const result = await db
    .deleteFrom('custom_mappings')
    .where('application_id', '=', scope.applicationId)
    .where('consumer_id', '=', scope.consumerId)
    .where('unified_api', '=', unifiedApi)
    .where('service_id', '=', serviceId)
    .where('target_field_id', '=', targetFieldId)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw notFound('custom mapping', targetFieldId);
}
