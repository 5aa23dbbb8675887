// The display label Auth0 derives for a configured connection: which account or credential, never a whole secret.
// Observed on a real tenant for an HTTP bearer token "my-token": "Bearer my-***ken".
import type { Setup } from './validate.js';

const MAX_LENGTH = 150;

/** First and last three characters of a secret of 8 or more characters (as Auth0 shows them); shorter ones not at all. */
export function maskSecret(secret: string): string {
  return secret.length >= 8 ? `${secret.slice(0, 3)}***${secret.slice(-3)}` : '***';
}

function hostOf(url: string): string {
  return new URL(url).host;
}

function label(setup: Setup): string | null {
  const text = (key: string) => (typeof setup[key] === 'string' ? (setup[key] as string) : '');
  switch (setup.type) {
    case 'BEARER':
      return `Bearer ${maskSecret(text('token'))}`;
    case 'BASIC_AUTH':
      return `Basic ${text('username')}`;
    case 'API_KEY':
      if (setup.in !== undefined) return `${text('name')} ${maskSecret(text('value'))}`;
      if (setup.base_url !== undefined) return hostOf(text('base_url'));
      if (setup.account_id !== undefined) return text('account_id');
      return maskSecret(text('api_key') || text('secret_key'));
    case 'OAUTH_CLIENT_CREDENTIALS':
      return `${text('client_id')} @ ${hostOf(text('token_endpoint'))}`;
    case 'OAUTH_APP':
      return text('domain');
    case 'OAUTH_JWT':
      return text('client_email') || text('project_id') || null;
    case 'JWT':
      return `JWT ${text('algorithm')}`;
    case 'TOKEN':
      return maskSecret(text('token'));
    case 'KEY_PAIR':
      return maskSecret(text('public_key'));
    case 'WEBHOOK':
      // Webhook URLs (Slack, Zapier) carry their secret in the path: only the host is shown.
      return hostOf(text('url'));
    default:
      // OAUTH_CODE: the account is only known to whoever exchanges the code.
      return null;
  }
}

export function accountNameOf(setup: Setup | null): string | null {
  if (!setup) return null;
  const name = label(setup);
  return name ? name.slice(0, MAX_LENGTH) : null;
}
