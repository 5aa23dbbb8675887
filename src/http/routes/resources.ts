import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VaultContext } from '../../vault/context.js';
import {
  getResourceConfig,
  getResourceExample,
  getResourceSchema,
  listResourceCustomMappings,
  updateResourceConfig,
} from '../../vault/connections.js';
import { customFieldsFor } from '../../proxy/custom-fields.js';
import type { RefreshCoordinator } from '../../oauth/refresh.js';
import { scopeOf } from '../auth.js';
import { ok } from '../envelope.js';
import { ConnectionBody, ResourceParams } from '../schemas.js';

const op = (id: string, name: string) => ({ operation: { id, name }, access: 'consumer' as const, sessionAllowed: true });
/** Resource configuration, custom fields and mappings: hidden from sessions with `hide_resource_settings`. */
const settingsOp = (id: string, name: string) => ({ ...op(id, name), sessionRule: 'resource-settings' as const });

export function resourceRoutes(ctx: VaultContext, refresher: RefreshCoordinator): FastifyPluginAsyncTypebox {
  return async (app) => {
    const path = '/vault/connections/:unified_api/:service_id/:resource';
    const schema = { params: ResourceParams };

    app.get(`${path}/config`, { schema, config: settingsOp('connectionSettingsAll', 'Get resource settings') }, async (request, reply) => {
      const { unified_api, service_id, resource } = request.params;
      return ok(reply, await getResourceConfig(ctx, scopeOf(request), unified_api, service_id, resource));
    });

    app.patch(
      `${path}/config`,
      { schema: { ...schema, body: ConnectionBody }, config: settingsOp('connectionSettingsUpdate', 'Update settings') },
      async (request, reply) => {
        const { unified_api, service_id, resource } = request.params;
        return ok(reply, await updateResourceConfig(ctx, scopeOf(request), unified_api, service_id, resource, request.body));
      },
    );

    app.get(`${path}/schema`, { schema, config: op('connectionsSchema', 'Get resource schema') }, async (request, reply) => {
      const { unified_api, service_id, resource } = request.params;
      return ok(reply, await getResourceSchema(ctx, scopeOf(request), unified_api, service_id, resource));
    });

    app.get(`${path}/example`, { schema, config: op('connectionsExample', 'Get resource example') }, async (request, reply) => {
      const { unified_api, service_id, resource } = request.params;
      return ok(reply, await getResourceExample(ctx, scopeOf(request), unified_api, service_id, resource));
    });

    app.get(`${path}/custom-fields`, { schema, config: settingsOp('customFieldsAll', 'Get resource custom fields') }, async (request, reply) => {
      const { unified_api, service_id, resource } = request.params;
      return ok(reply, await customFieldsFor(ctx, refresher, scopeOf(request), unified_api, service_id, resource));
    });

    const mappings = async (request: { params: { unified_api: string; service_id: string; resource: string } } & Parameters<typeof scopeOf>[0], reply: Parameters<typeof ok>[0]) => {
      const { unified_api, service_id, resource } = request.params;
      return ok(reply, await listResourceCustomMappings(ctx, scopeOf(request), unified_api, service_id, resource));
    };
    app.get(`${path}/custom-mappings`, { schema, config: settingsOp('connectionCustomMappingsAll', 'List connection custom mappings') }, mappings);
    // The Vault UI (vault-core) calls the singular form, which the spec does not list.
    app.get(`${path}/custom-mapping`, { schema, config: settingsOp('connectionCustomMappingList', 'List connection custom mappings (Vault UI alias)') }, mappings);
  };
}
