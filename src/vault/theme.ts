// A session's theme: one strict grammar, checked when the session is created and again by the Hosted Vault page
// before it applies anything (the page imports this file), so no value can smuggle CSS or a non-https URL in.
// No imports: the page's bundle includes it as is.

export const THEME_COLOURS = ['primary_color', 'sidepanel_background_color', 'sidepanel_text_color'] as const;
export const THEME_URLS = ['logo', 'favicon', 'privacy_url', 'terms_url'] as const;
export const THEME_KEYS = [...THEME_COLOURS, ...THEME_URLS, 'vault_name'] as const;
export const MAX_VAULT_NAME = 100;
export const MAX_THEME_URL = 2048;

export type Theme = Partial<Record<(typeof THEME_KEYS)[number], string>>;

const NUMBER = String.raw`\d{1,3}(?:\.\d{1,6})?`;
const ALPHA = String.raw`(?:0|1|0?\.\d{1,6}|${NUMBER}%)`;
const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const RGB = new RegExp(String.raw`^rgba?\(\s*${NUMBER}%?\s*,\s*${NUMBER}%?\s*,\s*${NUMBER}%?\s*(?:,\s*${ALPHA}\s*)?\)$`, 'i');
const HSL = new RegExp(String.raw`^hsla?\(\s*${NUMBER}(?:deg)?\s*,\s*${NUMBER}%\s*,\s*${NUMBER}%\s*(?:,\s*${ALPHA}\s*)?\)$`, 'i');
const NAMED = new Set(['black', 'white', 'transparent']);

/** `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()`/`hsl()`/`hsla()` with numbers only, or black/white/transparent. */
export function isThemeColour(value: string): boolean {
  return value.length <= 64 && (HEX.test(value) || RGB.test(value) || HSL.test(value) || NAMED.has(value.toLowerCase()));
}

/** An absolute https URL with a host and no credentials in it. */
export function isThemeUrl(value: string): boolean {
  if (value.length > MAX_THEME_URL || /[\s"'<>\\`]/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/** Plain text: non-empty, bounded, no control characters. */
export function isVaultName(value: string): boolean {
  return value.trim().length > 0 && value.length <= MAX_VAULT_NAME && !/[\u0000-\u001f\u007f]/.test(value);
}

/** The first bad entry as `[field, what it must be]`, or null when every entry is fine. */
export function themeProblem(theme: Record<string, unknown>): [string, string] | null {
  for (const [key, value] of Object.entries(theme)) {
    if (!(THEME_KEYS as readonly string[]).includes(key)) return [key, 'is not a theme setting'];
    if (typeof value !== 'string') return [key, 'must be a string'];
    if ((THEME_COLOURS as readonly string[]).includes(key) && !isThemeColour(value)) return [key, 'must be a colour: #rgb, #rrggbb, #rrggbbaa, rgb(), rgba(), hsl() or hsla() with numbers only'];
    if ((THEME_URLS as readonly string[]).includes(key) && !isThemeUrl(value)) return [key, 'must be an absolute https URL without credentials'];
    if (key === 'vault_name' && !isVaultName(value)) return [key, `must be plain text of 1 to ${MAX_VAULT_NAME} characters`];
  }
  return null;
}

/** The entries that pass the grammar; anything else is dropped (the page's copy of the server's check). */
export function safeTheme(theme: unknown): Theme {
  if (typeof theme !== 'object' || theme === null) return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(theme)) if (themeProblem({ [key]: value }) === null) out[key] = value as string;
  return out as Theme;
}
