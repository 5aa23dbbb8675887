import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VaultContext } from '../../vault/context.js';
import { listServiceCustomMappings } from '../../vault/connections.js';
import { deleteCustomMapping, getCustomMapping, saveCustomMapping } from '../../vault/custom-mappings.js';
import { resolveIntegration } from '../../vault/integrations.js';
import { scopeOf } from '../auth.js';
import { ok } from '../envelope.js';
import { ConnectionParams, CustomMappingRequest, TargetFieldParams } from '../schemas.js';

// Custom mappings are resource settings: hidden from sessions with `hide_resource_settings`.
const op = (id: string, name: string) => ({ operation: { id, name }, access: 'consumer' as const, sessionAllowed: true, sessionRule: 'resource-settings' as const });

export function customMappingRoutes(ctx: VaultContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/vault/custom-mappings/:unified_api/:service_id', { schema: { params: ConnectionParams }, config: op('customMappingsAll', 'List custom mappings') }, async (request, reply) =>
      ok(reply, await listServiceCustomMappings(ctx, scopeOf(request), request.params.unified_api, request.params.service_id)),
    );

    const path = '/vault/custom-mappings/:unified_api/:service_id/:target_field_id';
    app.get(path, { schema: { params: TargetFieldParams }, config: op('customMappingsOne', 'Get custom mapping') }, async (request, reply) => {
      const { unified_api, service_id, target_field_id } = request.params;
      await resolveIntegration(ctx, request.caller!.applicationId, unified_api, service_id);
      return ok(reply, await getCustomMapping(ctx.db, scopeOf(request), unified_api, service_id, target_field_id));
    });

    for (const [method, mode, id, name] of [
      ['post', 'create', 'customMappingsAdd', 'Create custom mapping'],
      ['patch', 'update', 'customMappingsUpdate', 'Update custom mapping'],
    ] as const) {
      app[method](path, { schema: { params: TargetFieldParams, body: CustomMappingRequest }, config: op(id, name) }, async (request, reply) => {
        const { unified_api, service_id, target_field_id } = request.params;
        await resolveIntegration(ctx, request.caller!.applicationId, unified_api, service_id);
        return ok(reply, await saveCustomMapping(ctx, scopeOf(request), unified_api, service_id, target_field_id, request.body.value, mode));
      });
    }

    app.delete(path, { schema: { params: TargetFieldParams }, config: op('customMappingsDelete', 'Delete custom mapping') }, async (request, reply) => {
      const { unified_api, service_id, target_field_id } = request.params;
      await resolveIntegration(ctx, request.caller!.applicationId, unified_api, service_id);
      await deleteCustomMapping(ctx, scopeOf(request), unified_api, service_id, target_field_id);
      return reply.code(204).send();
    });
  };
}
