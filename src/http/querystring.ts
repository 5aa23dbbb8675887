// Query strings with OpenAPI deepObject keys (`filter[consumer_id]=x`); repeated keys become arrays.

export type Query = Record<string, unknown>;

function assign(target: Record<string, unknown>, key: string, value: string): void {
  const existing = target[key];
  if (existing === undefined) target[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else if (typeof existing === 'string') target[key] = [existing, value];
}

export function parseQuery(raw: string): Query {
  const out: Query = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const match = /^([^[\]]+)\[([^[\]]*)\](\[\])?$/.exec(key);
    if (!match) {
      assign(out, key.replace(/\[\]$/, ''), value);
      continue;
    }
    const [, outer, inner] = match;
    const nested = (typeof out[outer] === 'object' && out[outer] !== null && !Array.isArray(out[outer]) ? out[outer] : (out[outer] = {})) as Record<string, unknown>;
    assign(nested, inner, value);
  }
  return out;
}
