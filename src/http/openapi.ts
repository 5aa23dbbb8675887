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
        'Not yet served by this version: the OAuth browser endpoints (authorize, callback, revoke), the client_credentials',
        'and password grants of `…/token` (501), live custom-field discovery from the provider (`…/custom-fields` returns',
        'the fields the connector definition declares) and verification requests against the provider (`…/validate`',
        'checks the stored settings and tokens only).',
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
