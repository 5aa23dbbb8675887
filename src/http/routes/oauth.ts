// The browser side of OAuth (authorize, callback, revoke) and the Coffer credentials extension.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { startAuthorization, type AuthorizeRedirect } from '../../oauth/authorize.js';
import { bindingCookieName, clearedBindingCookie, readCookie } from '../../oauth/browser-binding.js';
import { completeAuthorization } from '../../oauth/callback.js';
import { OAuthFlowError } from '../../oauth/flow-error.js';
import type { RefreshCoordinator } from '../../oauth/refresh.js';
import { revokeAuthorization } from '../../oauth/revoke.js';
import { freshCredentials } from '../../oauth/tokens-service.js';
import type { VaultContext } from '../../vault/context.js';
import { VaultError } from '../../vault/errors.js';
import { scopeOf } from '../auth.js';
import { okBody } from '../envelope.js';
import { routeConfigOf, sendAnswer, type HotRoute } from '../hot-paths.js';
import { ConnectionParams } from '../schemas.js';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Failures before a redirect target is trusted are shown here, never redirected. */
function errorPage(reply: FastifyReply, status: number, code: string, message: string) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connection failed</title>` +
        `<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}code{color:#666}</style>` +
        `</head><body><h1>The connection could not be completed</h1><p>${escapeHtml(message)}</p><p><code>${escapeHtml(code)}</code></p></body></html>`,
    );
}

async function browserFlow(reply: FastifyReply, work: () => Promise<string | AuthorizeRedirect>) {
  try {
    const result = await work();
    const location = typeof result === 'string' ? result : result.location;
    if (typeof result !== 'string' && result.cookie) reply.header('set-cookie', result.cookie);
    return reply.code(301).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(location, 301);
  } catch (error) {
    if (error instanceof OAuthFlowError) return errorPage(reply, error.statusCode, error.code, error.message);
    if (error instanceof VaultError) return errorPage(reply, error.statusCode, error.typeName, error.message);
    throw error;
  }
}

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** GET of a connection's fresh credentials, answered by fastify and by the hot-read path (hot-paths.ts) alike. */
export const credentialsReadRoute = (ctx: VaultContext, refresher: RefreshCoordinator): HotRoute => ({
  operation: { id: 'connectionsCredentials', name: 'Get fresh credentials (Coffer)' },
  access: 'consumer',
  sessionAllowed: false,
  answer: async (scope, params) => ({
    body: JSON.stringify(okBody(await freshCredentials(ctx, refresher, scope, params.unified_api, params.service_id))),
    headers: { 'cache-control': 'no-store' },
  }),
});

export function oauthRoutes(ctx: VaultContext, refresher: RefreshCoordinator): FastifyPluginAsyncTypebox {
  const credentials = credentialsReadRoute(ctx, refresher);
  return async (app) => {
    const browser = { hide: true } as const;
    app.get('/vault/authorize/:service_id/:application_id', { schema: browser }, async (request, reply) => {
      const params = request.params as { service_id: string; application_id: string };
      const query = request.query as Record<string, unknown>;
      const scope = Array.isArray(query.scope) ? query.scope.join(' ') : single(query.scope);
      return browserFlow(reply, () =>
        startAuthorization(ctx, {
          serviceId: params.service_id,
          applicationId: params.application_id,
          state: single(query.state),
          redirectUri: single(query.redirect_uri),
          scope,
          nonce: single(query.nonce),
        }),
      );
    });

    app.get('/vault/callback', { schema: browser }, async (request, reply) => {
      const query = new URLSearchParams(request.url.split('?')[1] ?? '');
      const state = query.get('state');
      const cookies = request.headers.cookie;
      // The binding cookie has done its job whatever the outcome: the flow is used up or was never this browser's.
      if (state && readCookie(cookies, bindingCookieName(state)) !== null) reply.header('set-cookie', clearedBindingCookie(ctx, state));
      return browserFlow(reply, () => completeAuthorization(ctx, query, cookies));
    });

    app.get('/vault/revoke/:service_id/:application_id', { schema: browser }, async (request, reply) => {
      const params = request.params as { service_id: string; application_id: string };
      const query = request.query as Record<string, unknown>;
      return browserFlow(reply, () =>
        revokeAuthorization(ctx, { serviceId: params.service_id, applicationId: params.application_id, state: single(query.state), redirectUri: single(query.redirect_uri) }, request.log),
      );
    });

    app.get(
      '/vault/connections/:unified_api/:service_id/credentials',
      {
        schema: { params: ConnectionParams, description: 'Coffer extension: a fresh access token for the connection (API keys only; never for session tokens).' },
        config: routeConfigOf(credentials),
      },
      async (request, reply) => sendAnswer(reply, await credentials.answer(scopeOf(request), request.params)),
    );
  };
}
