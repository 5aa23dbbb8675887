// A session's own settings, enforced by the server for callers holding its JWT (API keys are never restricted):
// the Vault UIs hide what a session may not do, and this refuses it. Routes declare what they touch in their
// `config.sessionRule`; any route with a `:unified_api` parameter is held to the session's `unified_apis`.
import type { FastifyRequest } from 'fastify';
import type { LinkPolicy } from '../vault/connection-view.js';
import type { VaultContext } from '../vault/context.js';
import { VaultError } from '../vault/errors.js';
import type { SessionSettings } from '../vault/sessions.js';

/**
 * What a route does that a session's settings may forbid:
 * - `logs`: reads request logs (`show_logs: false` or `isolation_mode: true` forbid it);
 * - `resource-settings`: reads or changes resource configuration or custom mappings (`hide_resource_settings`);
 * - `delete`: deletes a connection (`allow_actions` without `delete`);
 * - `connection-write`: creates or updates a connection; a change of `enabled` needs `disable`, and
 *   `configuration`/`custom_mappings` in the body are resource settings.
 */
export type SessionRule = 'logs' | 'resource-settings' | 'delete' | 'connection-write';

declare module 'fastify' {
  interface FastifyContextConfig {
    sessionRule?: SessionRule;
  }
}

export type SessionAction = 'delete' | 'disconnect' | 'reauthorize' | 'disable';
const ALL_ACTIONS: SessionAction[] = ['delete', 'disconnect', 'reauthorize', 'disable'];

export interface SessionLimits {
  /** null: every unified API. */
  unifiedApis: string[] | null;
  actions: Set<SessionAction>;
  logs: boolean;
  resourceSettings: boolean;
}

/** Apideck's defaults: every unified API and action, logs and resource settings shown. */
export function limitsOf(settings: SessionSettings = {}): SessionLimits {
  return {
    unifiedApis: settings.unified_apis?.length ? settings.unified_apis : null,
    actions: new Set((settings.allow_actions ?? ALL_ACTIONS) as SessionAction[]),
    // Isolation mode shows only the connection settings, so its logs page is gone too.
    logs: settings.show_logs !== false && settings.isolation_mode !== true,
    resourceSettings: settings.hide_resource_settings !== true,
  };
}

/** The caller's limits; null for API-key callers. */
export function sessionLimits(request: FastifyRequest): SessionLimits | null {
  const session = request.caller?.session;
  return session ? limitsOf(session.settings) : null;
}

/** The links connection views may hand this caller; undefined (all of them) for API keys. */
export function linkPolicy(request: FastifyRequest): LinkPolicy | undefined {
  const limits = sessionLimits(request);
  return limits ? { revoke: limits.actions.has('disconnect'), reauthorize: limits.actions.has('reauthorize') } : undefined;
}

const refused = (message: string) => new VaultError(403, 'ForbiddenError', message, message);
const noAction = (action: SessionAction) => refused(`This session does not allow the ${action} action`);
const NO_RESOURCE_SETTINGS = 'This session does not allow resource settings (hide_resource_settings)';

/** A preHandler (after validation): refuses what the caller's session does not allow. */
export function enforceSessionPolicy(ctx: VaultContext) {
  return async (request: FastifyRequest): Promise<void> => {
    const limits = sessionLimits(request);
    if (!limits) return;
    const params = (request.params ?? {}) as Record<string, unknown>;
    const unifiedApi = typeof params.unified_api === 'string' ? params.unified_api : null;
    if (unifiedApi !== null && limits.unifiedApis && !limits.unifiedApis.includes(unifiedApi)) {
      throw refused(`This session does not allow the ${unifiedApi} API (unified_apis: ${limits.unifiedApis.join(', ')})`);
    }
    switch (request.routeOptions.config.sessionRule) {
      case 'logs':
        if (!limits.logs) throw refused('This session does not allow viewing logs (show_logs or isolation_mode)');
        return;
      case 'resource-settings':
        if (!limits.resourceSettings) throw refused(NO_RESOURCE_SETTINGS);
        return;
      case 'delete':
        if (!limits.actions.has('delete')) throw noAction('delete');
        return;
      case 'connection-write': {
        const body = (request.body ?? {}) as { enabled?: boolean; configuration?: unknown[]; custom_mappings?: unknown[] };
        if (!limits.resourceSettings && (body.configuration?.length || body.custom_mappings?.length)) throw refused(NO_RESOURCE_SETTINGS);
        if (body.enabled === undefined || limits.actions.has('disable')) return;
        // Sending the value it already has (or `true` for a new connection, as Apideck's Vault does to add one) is no change.
        const existing = await ctx.connections.find({ applicationId: request.caller!.applicationId, consumerId: request.caller!.consumerId!, serviceId: String(params.service_id) });
        const current = existing ? existing.enabled : true;
        if (body.enabled !== current) throw noAction('disable');
        return;
      }
    }
  };
}
