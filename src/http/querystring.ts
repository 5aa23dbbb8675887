// Query strings with OpenAPI deepObject keys (`filter[consumer_id]=x`); repeated keys become arrays.

export type Query = Record<string, unknown>;

/** Keys that would reach Object.prototype (`?__proto__[x]=1` polluted every object in the process). */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function assign(target: Record<string, unknown>, key: string, value: string): void {
  const existing = Object.hasOwn(target, key) ? target[key] : undefined;
  if (existing === undefined) target[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else if (typeof existing === 'string') target[key] = [existing, value];
}

export function parseQuery(raw: string): Query {
  const out: Query = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const match = /^([^[\]]+)\[([^[\]]*)\](\[\])?$/.exec(key);
    if (!match) {
      const name = key.replace(/\[\]$/, '');
      if (!UNSAFE_KEYS.has(name)) assign(out, name, value);
      continue;
    }
    const [, outer, inner] = match;
    if (UNSAFE_KEYS.has(outer) || UNSAFE_KEYS.has(inner)) continue;
    const nested = (Object.hasOwn(out, outer) && typeof out[outer] === 'object' && out[outer] !== null && !Array.isArray(out[outer]) ? out[outer] : (out[outer] = {})) as Record<string, unknown>;
    assign(nested, inner, value);
  }
  return out;
}
