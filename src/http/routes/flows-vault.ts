// Auth0's Flows Vault connections API under /api/v2: its own Bearer (Management API token) auth, its own error body,
// JSON and form-encoded bodies. Handlers check the scope, call one domain function and send what it returns.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { checkDocument, MAX_BODY_BYTES } from '../input-bounds.js';
import { checkConnectionId, createConnection, deleteConnection, getConnection, listConnections, parseListQuery, updateConnection } from '../../flows/connections.js';
import { requireScope, verifyManagementToken, type FlowsScope, type ManagementCaller } from '../../flows/management-token.js';
import type { VaultContext } from '../../vault/context.js';
import { installAuth0ErrorHandling } from '../auth0-errors.js';
import type { RateLimits } from '../rate-limits.js';
import { FlowsError } from '../../flows/errors.js';
import { parseQuery } from '../querystring.js';

declare module 'fastify' {
  interface FastifyRequest {
    management?: ManagementCaller;
  }
  interface FastifyContextConfig {
    /** The Management API scope a Flows Vault route needs. */
    flowsScope?: FlowsScope;
  }
}

const CONNECTIONS = '/flows/vault/connections';

type IdParams = { Params: { id: string } };

const route = (flowsScope: FlowsScope) => ({ schema: { hide: true }, config: { flowsScope } });
const applicationOf = (request: FastifyRequest) => request.management!.applicationId;

export function flowsVaultRoutes(ctx: VaultContext, limits: RateLimits): FastifyPluginAsync {
  return async (app) => {
    installAuth0ErrorHandling(app);

    // Auth0 declares form bodies for create and update: `name=…&app_id=…&setup[type]=…&setup[token]=…`.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) => {
      try {
        const form = parseQuery(body as string);
        checkDocument(form, 'body');
        done(null, form);
      } catch (error) {
        done(error as Error, undefined);
      }
    });

    // Token first, then scope: a caller without a valid token learns nothing about which scope a route needs.
    // Failed tokens count toward the same limits as failed API keys and sessions.
    app.addHook('onRequest', async (request, reply) => {
      const scope = request.routeOptions.config.flowsScope;
      if (!scope) return;
      await limits.beforeAuthentication(request, reply);
      try {
        request.management = await verifyManagementToken(ctx, request.headers.authorization);
      } catch (error) {
        if (error instanceof FlowsError && error.statusCode === 401) await limits.authenticationFailed(request);
        throw error;
      }
      await limits.applicationRequest(request, reply, request.management.applicationId);
      requireScope(request.management, scope);
    });

    app.get(CONNECTIONS, route('read:flows_vault_connections'), async (request) =>
      listConnections(ctx, applicationOf(request), parseListQuery(request.query as Record<string, unknown>)),
    );

    app.post(CONNECTIONS, route('create:flows_vault_connections'), async (request, reply) =>
      reply.code(201).send(await createConnection(ctx, applicationOf(request), request.body)),
    );

    app.get<IdParams>(`${CONNECTIONS}/:id`, route('read:flows_vault_connections'), async (request) =>
      getConnection(ctx, applicationOf(request), checkConnectionId(request.params.id)),
    );

    app.patch<IdParams>(`${CONNECTIONS}/:id`, route('update:flows_vault_connections'), async (request) =>
      updateConnection(ctx, applicationOf(request), checkConnectionId(request.params.id), request.body),
    );

    app.delete<IdParams>(`${CONNECTIONS}/:id`, route('delete:flows_vault_connections'), async (request, reply) => {
      await deleteConnection(ctx, applicationOf(request), checkConnectionId(request.params.id));
      return reply.code(204).send();
    });
  };
}
