#!/usr/bin/env node
// Regenerates the connector table in README.md from the built catalogue (`npm run build` first).
// `--check` exits 1 when the README is out of date (the catalogue test runs it).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../dist/connectors/loader.js';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const START = '<!-- connectors:start -->';
const END = '<!-- connectors:end -->';

export function connectorTable() {
  const rows = loadCatalogue().all().map((d) => {
    const auth = d.auth_type === 'oauth2' ? `oauth2 (${d.oauth.grant_type.replace('_', ' ')})` : d.auth_type;
    return `| ${d.id} | ${d.name} | ${d.unified_apis.join(', ')} | ${auth} |`;
  });
  return [`${rows.length} connectors.`, '', '| id | name | unified APIs | auth |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const readme = fs.readFileSync(README, 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < 0) throw new Error(`README.md lacks the ${START} … ${END} markers`);
const updated = `${readme.slice(0, start + START.length)}\n${connectorTable()}\n${readme.slice(end)}`;
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('README.md connector table is out of date: run `npm run connectors:readme`');
    process.exit(1);
  }
} else {
  fs.writeFileSync(README, updated);
}
