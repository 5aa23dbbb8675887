// The 21 Flows Vault apps and the `setup` variants each accepts, as Auth0's OpenAPI document declares them
// (/work/shared/reference/auth0-flows-vault-connections.md §5). Dispatch is on `app_id`, then `setup.type`.

export type StringFormat = 'https-url' | 'hostname' | 'email';

export interface FieldRule {
  required?: boolean;
  minLength?: number;
  maxLength?: number;
  format?: StringFormat;
  enum?: readonly string[];
  /** Coffer itself calls this URL (a token endpoint): plain http is allowed when insecure providers are. */
  fetched?: boolean;
}

export interface SetupSchema {
  /** Auth0's schema name, for messages. */
  name: string;
  type: string;
  fields: Record<string, FieldRule>;
  /** OAUTH_CODE and JWT setups take extra keys (`additionalProperties: true`). */
  additionalProperties: boolean;
}

const s = (name: string, type: string, fields: Record<string, FieldRule>, additionalProperties = false): SetupSchema => ({ name, type, fields, additionalProperties });
const required: FieldRule = { required: true };

export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

export const SETUPS = {
  ApiKey: s('ApiKey', 'API_KEY', { api_key: required }),
  ApiKeyWithBaseUrl: s('ApiKeyWithBaseUrl', 'API_KEY', { api_key: required, base_url: { required: true, format: 'https-url' } }),
  SecretApiKey: s('SecretApiKey', 'API_KEY', { secret_key: required }),
  MailjetApiKey: s('MailjetApiKey', 'API_KEY', { api_key: required, secret_key: required }),
  TwilioApiKey: s('TwilioApiKey', 'API_KEY', { account_id: required, api_key: required }),
  OauthApp: s('OauthApp', 'OAUTH_APP', { client_id: required, client_secret: required, domain: { required: true, format: 'hostname' }, audience: { format: 'https-url' } }),
  OauthCode: s('OauthCode', 'OAUTH_CODE', { code: {} }, true),
  BigqueryOauthJwt: s('BigqueryOauthJwt', 'OAUTH_JWT', { project_id: {}, private_key: {}, client_email: { format: 'email' } }),
  Jwt: s('Jwt', 'JWT', { algorithm: { required: true, enum: JWT_ALGORITHMS } }, true),
  Token: s('Token', 'TOKEN', { token: required }),
  Webhook: s('Webhook', 'WEBHOOK', { url: { required: true, format: 'https-url' } }),
  StripeKeyPair: s('StripeKeyPair', 'KEY_PAIR', { private_key: required, public_key: required }),
  HttpBearer: s('HttpBearer', 'BEARER', { token: required }),
  HttpBasicAuth: s('HttpBasicAuth', 'BASIC_AUTH', { username: { required: true, maxLength: 155 }, password: { maxLength: 155 } }),
  HttpApiKey: s('HttpApiKey', 'API_KEY', { name: { required: true, maxLength: 55 }, value: { required: true, maxLength: 255 }, in: { required: true, enum: ['HEADER', 'QUERY'] } }),
  HttpOauthClientCredentials: s('HttpOauthClientCredentials', 'OAUTH_CLIENT_CREDENTIALS', {
    client_id: { required: true, maxLength: 255 },
    client_secret: { required: true, maxLength: 255 },
    token_endpoint: { required: true, maxLength: 500, format: 'https-url', fetched: true },
    audience: { maxLength: 255 },
    resource: { maxLength: 255 },
    scope: { maxLength: 1024 },
  }),
} satisfies Record<string, SetupSchema>;

const { ApiKey, ApiKeyWithBaseUrl, SecretApiKey, MailjetApiKey, TwilioApiKey, OauthApp, OauthCode, BigqueryOauthJwt, Jwt, Token, Webhook, StripeKeyPair } = SETUPS;

/** app_id → the setup variants it accepts (each with a distinct `type`). */
export const FLOWS_APPS: Record<string, readonly SetupSchema[]> = {
  ACTIVECAMPAIGN: [ApiKeyWithBaseUrl],
  AIRTABLE: [ApiKey],
  AUTH0: [OauthApp],
  BIGQUERY: [BigqueryOauthJwt],
  CLEARBIT: [SecretApiKey],
  DOCUSIGN: [OauthCode],
  GOOGLE_SHEETS: [OauthCode],
  HTTP: [SETUPS.HttpBearer, SETUPS.HttpBasicAuth, SETUPS.HttpApiKey, SETUPS.HttpOauthClientCredentials],
  HUBSPOT: [ApiKey, OauthCode],
  JWT: [Jwt],
  MAILCHIMP: [SecretApiKey, OauthCode],
  MAILJET: [MailjetApiKey],
  PIPEDRIVE: [Token, OauthCode],
  SALESFORCE: [OauthCode],
  SENDGRID: [ApiKey],
  SLACK: [Webhook, OauthCode],
  STRIPE: [StripeKeyPair, OauthCode],
  TELEGRAM: [Token],
  TWILIO: [TwilioApiKey],
  WHATSAPP: [Token],
  ZAPIER: [Webhook],
};

export const FLOWS_APP_IDS = Object.keys(FLOWS_APPS);

/** The setup types that obtain an access token through the OAuth engine. */
export const TOKEN_SETUP_TYPES = new Set(['OAUTH_APP', 'OAUTH_CLIENT_CREDENTIALS']);
