// Custom mappings: a consumer's JSONPath for a target field `<unified_api>+<resource>+<key>`.
import type { Executor } from '../store/database.js';
import { deleteMapping, findMappingRow, listMappingRows, writeMapping, writeMappingForConsumer, type MappingKey, type MappingRow } from '../store/custom-mappings.js';
import type { CustomMappingView } from './connection-view.js';
import { badRequest, notFound } from './errors.js';
import type { Scope } from './connection-mutation.js';
import type { VaultContext } from './context.js';

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

export function mappingView(row: MappingRow): CustomMappingView {
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

const mappingKey = (scope: Scope, unifiedApi: string, serviceId: string): MappingKey => ({
  applicationId: scope.applicationId,
  consumerId: scope.consumerId,
  unifiedApi,
  serviceId,
});

export async function listCustomMappings(db: Executor, scope: Scope, unifiedApi: string, serviceId: string, resource?: string): Promise<CustomMappingView[]> {
  const rows = await listMappingRows(db, mappingKey(scope, unifiedApi, serviceId), resource ? `${unifiedApi}+${resource}+` : undefined);
  return rows.map(mappingView);
}

export async function getCustomMapping(db: Executor, scope: Scope, unifiedApi: string, serviceId: string, targetFieldId: string): Promise<CustomMappingView> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const row = await findMappingRow(db, mappingKey(scope, unifiedApi, serviceId), targetFieldId);
  if (!row) throw notFound('custom mapping', targetFieldId);
  return mappingView(row);
}

/** Inside a connection's unit of work (a PATCH carrying `custom_mappings`). */
export async function putCustomMapping(
  tx: Executor,
  scope: Scope,
  unifiedApi: string,
  serviceId: string,
  targetFieldId: string,
  value: unknown,
  mode: 'create' | 'update' | 'upsert',
): Promise<CustomMappingView> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const path = checkJsonPath(value);
  if (!(await writeMapping(tx, mappingKey(scope, unifiedApi, serviceId), targetFieldId, path, mode))) throw notFound('custom mapping', targetFieldId);
  return mappingView({ target_field_id: targetFieldId, value: path, consumer_id: scope.consumerId });
}

/** The custom-mappings API: a mapping may exist before its connection does; the consumer is created with it. */
export async function saveCustomMapping(
  ctx: VaultContext,
  scope: Scope,
  unifiedApi: string,
  serviceId: string,
  targetFieldId: string,
  value: unknown,
  mode: 'create' | 'update',
): Promise<CustomMappingView> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  const path = checkJsonPath(value);
  if (!(await writeMappingForConsumer(ctx.db, ctx.changes, mappingKey(scope, unifiedApi, serviceId), targetFieldId, path, mode))) throw notFound('custom mapping', targetFieldId);
  return mappingView({ target_field_id: targetFieldId, value: path, consumer_id: scope.consumerId });
}

export async function deleteCustomMapping(ctx: VaultContext, scope: Scope, unifiedApi: string, serviceId: string, targetFieldId: string): Promise<void> {
  parseTargetFieldId(unifiedApi, targetFieldId);
  if (!(await deleteMapping(ctx.db, ctx.changes, mappingKey(scope, unifiedApi, serviceId), targetFieldId))) throw notFound('custom mapping', targetFieldId);
}
