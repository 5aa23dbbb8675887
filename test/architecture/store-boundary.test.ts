// The repository boundary, checked on the source: SQL lives in src/store/ only, and store/ depends on nothing above it.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const relative = (file: string) => path.relative(SRC, file).split(path.sep).join('/');
const files = sourceFiles(SRC).map((file) => ({ name: relative(file), text: fs.readFileSync(file, 'utf8') }));

/** Lines of `text` matching `pattern`, as `file:line: text`. */
function offending(name: string, text: string, pattern: RegExp): string[] {
  return text
    .split('\n')
    .map((line, i) => ({ line, at: `${name}:${i + 1}: ${line.trim()}` }))
    .filter(({ line }) => pattern.test(line))
    .map(({ at }) => at);
}

const QUERY_BUILDER = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)\(|\bsql`|\.transaction\(\)/;
const KYSELY_VALUE_IMPORT = /^import\s+(?!type\b)[^;]*from\s+'kysely'/;

describe('the store boundary', () => {
  const outside = files.filter((f) => !f.name.startsWith('store/'));

  it('outside src/store/ nothing imports kysely as a value, writes SQL or calls the query builder', () => {
    expect(outside.length).toBeGreaterThan(50);
    const found = outside.flatMap((f) => [...offending(f.name, f.text, QUERY_BUILDER), ...offending(f.name, f.text, KYSELY_VALUE_IMPORT)]);
    expect(found).toEqual([]);
  });

  it('no route opens a transaction', () => {
    const routes = files.filter((f) => f.name.startsWith('http/routes/'));
    expect(routes.length).toBeGreaterThan(5);
    expect(routes.flatMap((f) => offending(f.name, f.text, /transaction\(|atomically\(/))).toEqual([]);
  });

  it('src/store/ imports nothing from the layers above it', () => {
    const store = files.filter((f) => f.name.startsWith('store/'));
    const upward = /from\s+'\.\.\/(vault|oauth|events|flows|http|proxy|connectors|outbound)\//;
    expect(store.flatMap((f) => offending(f.name, f.text, upward))).toEqual([]);
  });
});
