import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VaultContext } from '../../vault/context.js';
import { createCallbackState } from '../../vault/callback-states.js';
import { confirmConnection } from '../../oauth/confirm.js';
import type { RefreshCoordinator } from '../../oauth/refresh.js';
import { requestGrantToken, validateOAuthConnection } from '../../oauth/tokens-service.js';
import {
  deleteConnection,
  getConnection,
  renderConnection,
  importConnection,
  listConnectionConsents,
  listConnections,
  migrateConnection,
  saveConnection,
  updateConnectionConsent,
  validateConnection,
} from '../../vault/connections.js';
import { badRequest } from '../../vault/errors.js';
import { scopeOf, sessionFlowOf } from '../auth.js';
import { ok, okBodyOf, okJson } from '../envelope.js';
import { routeConfigOf, sendAnswer, type HotRoute } from '../hot-paths.js';
import { linkPolicy, sessionLimits } from '../session-policy.js';
import {
  ConfirmConnection,
  ConnectionBody,
  ConnectionImportData,
  ConnectionMigrateData,
  ConnectionParams,
  CreateCallbackState,
  EmptyBody,
  UpdateConsentRequest,
} from '../schemas.js';

const op = (id: string, name: string) => ({ operation: { id, name }, access: 'consumer' as const, sessionAllowed: true });
const apiKeyOnly = (id: string, name: string) => ({ ...op(id, name), sessionAllowed: false });
const write = (id: string, name: string) => ({ ...op(id, name), sessionRule: 'connection-write' as const });

/** GET of a connection, answered by fastify and by the hot-read path (hot-paths.ts) alike. */
export const connectionReadRoute = (ctx: VaultContext): HotRoute => ({
  ...op('connectionsOne', 'Get connection'),
  answer: async (scope, params) => ({ body: okBodyOf(await renderConnection(ctx, scope, params.unified_api, params.service_id)) }),
});

export function connectionRoutes(ctx: VaultContext, refresher: RefreshCoordinator): FastifyPluginAsyncTypebox {
  const read = connectionReadRoute(ctx);
  return async (app) => {
    app.get('/vault/connections', { config: { ...op('connectionsAll', 'Get all connections'), access: 'consumer-optional' } }, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      if (query.api !== undefined && typeof query.api !== 'string') throw badRequest('api must be a single unified API id');
      if (query.configured !== undefined && query.configured !== 'true' && query.configured !== 'false') {
        throw badRequest('configured must be true or false', { invalid: [{ configured: 'boolean' }] });
      }
      // A session restricted to some unified APIs lists only those (an `api` outside them lists nothing).
      const data = await listConnections(
        ctx,
        request.caller!.applicationId,
        request.caller!.consumerId,
        {
          api: query.api as string | undefined,
          configured: query.configured === undefined ? undefined : query.configured === 'true',
          unifiedApis: sessionLimits(request)?.unifiedApis ?? undefined,
        },
        { ...sessionFlowOf(request), links: linkPolicy(request) },
      );
      return okJson(reply, `[${data.join(',')}]`);
    });

    const path = '/vault/connections/:unified_api/:service_id';
    app.get(path, { schema: { params: ConnectionParams }, config: routeConfigOf(read) }, async (request, reply) =>
      sendAnswer(reply, await read.answer(scopeOf(request), request.params)),
    );

    app.post(path, { schema: { params: ConnectionParams, body: ConnectionBody }, config: write('connectionsAdd', 'Create connection') }, async (request, reply) =>
      ok(reply, await saveConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body)),
    );

    app.patch(path, { schema: { params: ConnectionParams, body: ConnectionBody }, config: write('connectionsUpdate', 'Update connection') }, async (request, reply) =>
      ok(reply, await saveConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body)),
    );

    app.delete(path, { schema: { params: ConnectionParams }, config: { ...op('connectionsDelete', 'Deletes a connection'), sessionRule: 'delete' as const } }, async (request, reply) => {
      await deleteConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id);
      return reply.code(204).send();
    });

    app.post(
      `${path}/import`,
      { schema: { params: ConnectionParams, body: ConnectionImportData }, config: apiKeyOnly('connectionsImport', 'Import connection') },
      async (request, reply) => ok(reply, await importConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body)),
    );

    app.post(
      `${path}/migrate`,
      { schema: { params: ConnectionParams, body: ConnectionMigrateData }, config: apiKeyOnly('connectionsMigrate', 'Migrate connection') },
      async (request, reply) =>
        ok(reply, await migrateConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body.target_service_id)),
    );

    app.post(`${path}/token`, { schema: { params: ConnectionParams, body: EmptyBody }, config: op('connectionsToken', 'Authorize Access Token') }, async (request, reply) => {
      const { unified_api, service_id } = request.params;
      await requestGrantToken(ctx, scopeOf(request), unified_api, service_id);
      return ok(reply, await getConnection(ctx, scopeOf(request), unified_api, service_id));
    });

    app.post(
      `${path}/validate`,
      { schema: { params: ConnectionParams, body: EmptyBody }, config: op('validateConnectionState', 'Validate Connection State') },
      async (request, reply) => {
        const { unified_api, service_id } = request.params;
        const oauth = ctx.catalogue.get(service_id)?.auth_type === 'oauth2';
        return ok(
          reply,
          oauth
            ? await validateOAuthConnection(ctx, refresher, scopeOf(request), unified_api, service_id)
            : await validateConnection(ctx, scopeOf(request), unified_api, service_id),
        );
      },
    );

    app.get(`${path}/consent`, { schema: { params: ConnectionParams }, config: op('connectionConsentsAll', 'Get consent records') }, async (request, reply) =>
      ok(reply, await listConnectionConsents(ctx, scopeOf(request), request.params.unified_api, request.params.service_id)),
    );

    app.patch(
      `${path}/consent`,
      { schema: { params: ConnectionParams, body: UpdateConsentRequest }, config: op('connectionConsentUpdate', 'Update consent state') },
      async (request, reply) =>
        ok(
          reply,
          await updateConnectionConsent(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body.granted, request.body.resources),
        ),
    );

    app.post(
      `${path}/confirm`,
      { schema: { params: ConnectionParams, body: ConfirmConnection }, config: op('connectionsConfirm', 'Confirm connection') },
      async (request, reply) =>
        ok(reply, await confirmConnection(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body.confirm_token)),
    );

    app.post(
      `${path}/callback-state`,
      { schema: { params: ConnectionParams, body: CreateCallbackState }, config: apiKeyOnly('createCallbackState', 'Create Callback State') },
      async (request, reply) =>
        ok(reply, await createCallbackState(ctx, scopeOf(request), request.params.unified_api, request.params.service_id, request.body.redirect_uri)),
    );
  };
}
