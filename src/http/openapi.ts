// The head of `/openapi.json`; paths are filled in from the registered routes.

export function openApiDocument(publicUrl: string) {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Coffer Vault API',
      version: '0.1.0',
      description: [
        'Coffer serves the Apideck Vault API (spec 10.34.0): point `@apideck/unify` or `@apideck/node` at this server.',
        'Authenticate with `Authorization: Bearer <API key>` plus `x-apideck-app-id`, or with a session JWT from',
        '`POST /vault/sessions` (`X-APIDECK-AUTH-TYPE: JWT`), which is scoped to its consumer.',
        '',
        'The browser endpoints of the OAuth flow (`/vault/authorize/…`, `/vault/callback`, `/vault/revoke/…`) answer with',
        'redirects or an HTML error page and are not listed here.',
        '',
        'Coffer extension: `GET /vault/connections/{unified_api}/{service_id}/credentials` returns a fresh access token',
        '(refreshed first when it is about to expire) with its expiry, for API-key callers only.',
        '',
        '`…/custom-fields` returns the fields the connector declares plus, where the connector defines a discovery',
        'request, the fields found live at the provider with the consumer\'s credentials. Saving API-key/basic',
        'credentials and `…/validate` run the connector\'s verification request: a 401/403 from the provider marks the',
        'connection `invalid` and answers 422 with the provider\'s message in `detail`; for OAuth connections',
        '`…/validate` forces a token refresh.',
      ].join('\n'),
    },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey' as const, in: 'header' as const, name: 'Authorization', description: 'Bearer <API key>' },
        applicationId: { type: 'apiKey' as const, in: 'header' as const, name: 'x-apideck-app-id' },
      },
    },
    security: [{ apiKey: [], applicationId: [] }],
  };
}
