// The session (read from the URL, decoded but not verified: Coffer verifies it on every call) and the Vault API client.

export interface Session {
  token: string;
  application_id: string;
  consumer_id: string;
  consumer_metadata: { account_name?: string; user_name?: string; email?: string; image?: string };
  redirect_uri?: string;
  settings: {
    unified_apis?: string[];
    hide_resource_settings?: boolean;
    sandbox_mode?: boolean;
    isolation_mode?: boolean;
    show_logs?: boolean;
    auto_redirect?: boolean;
    hide_consumer_card?: boolean;
    allow_actions?: string[];
  };
  theme: Record<string, string | undefined>;
  exp: number;
}

/** The token from `/session/<token>`; null when the path holds none. */
export function tokenFromPath(pathname: string): string | null {
  const match = /^\/session\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\/?$/.exec(pathname);
  return match ? match[1] : null;
}

export function decodeSession(token: string): Session | null {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(part + '='.repeat((4 - (part.length % 4)) % 4)), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    const claims = JSON.parse(json);
    if (typeof claims.application_id !== 'string' || typeof claims.consumer_id !== 'string') return null;
    return { settings: {}, theme: {}, consumer_metadata: {}, ...claims, token };
  } catch {
    return null;
  }
}

export class SessionEnded extends Error {}

export interface ApiResult<T = any> {
  status: number;
  body: { data?: T; message?: string; error?: string; type_name?: string; detail?: unknown; meta?: any } | null;
}

export function makeApi(session: Session, onEnded: (message: string) => void) {
  return async function api<T = any>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const res = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${session.token}`,
        'X-APIDECK-AUTH-TYPE': 'JWT',
        'X-APIDECK-APP-ID': session.application_id,
        'X-APIDECK-CONSUMER-ID': session.consumer_id,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
    });
    const text = await res.text();
    let parsed: ApiResult<T>['body'] = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { message: text };
    }
    if (res.status === 401) {
      const why = typeof parsed?.detail === 'string' ? parsed.detail : parsed?.message;
      onEnded(why ?? 'The session is no longer valid');
      throw new SessionEnded(parsed?.message ?? 'Session ended');
    }
    return { status: res.status, body: parsed };
  };
}

export type Api = ReturnType<typeof makeApi>;

export const allowed = (session: Session, action: string) => !session.settings.allow_actions || session.settings.allow_actions.includes(action);

export function errorText(result: ApiResult): string {
  const b = result.body;
  const message = (typeof b?.message === 'string' && b.message) || b?.error || `Request failed (${result.status})`;
  return typeof b?.detail === 'string' && b.detail !== message ? `${message}: ${b.detail}` : message;
}
