// Text both backends store alike: PostgreSQL refuses a NUL in text, and a UTF-16 surrogate without its other half has
// no UTF-8 encoding. SQLite would keep either, so they are refused at the door (http/input-bounds.ts) or replaced
// where a value must be stored whatever it holds (request logs).
const UNSTORABLE = '\\u0000|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]';
const FIRST_UNSTORABLE = new RegExp(UNSTORABLE);
const EVERY_UNSTORABLE = new RegExp(UNSTORABLE, 'g');

/** The first character of `text` a database cannot store, or null. */
export function unstorableCharacter(text: string): string | null {
  return FIRST_UNSTORABLE.exec(text)?.[0] ?? null;
}

/** `text` with every character a database cannot store replaced by U+FFFD. */
export function withStorableCharacters(text: string): string {
  return text.replace(EVERY_UNSTORABLE, '\ufffd');
}
