// `npm run fuzz -- [--n 3000] [--seed S] [--backend sqlite|postgres|both] [--concurrency 8] [--json FILE]`
// Prints a table per backend (see fuzz.mjs) and exits 1 on any finding or a server that did not survive.
// PostgreSQL: FUZZ_DATABASE_URL or TEST_DATABASE_URL (a fresh schema per run, dropped after).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_SEED, formatReport, isClean, runFuzz } from './fuzz.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '3000' },
    seed: { type: 'string', default: String(DEFAULT_SEED) },
    backend: { type: 'string', default: 'sqlite' },
    concurrency: { type: 'string', default: '8' },
    json: { type: 'string' },
  },
});
const positive = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got "${values[name]}"`);
  return value;
};
const n = positive('n');
const concurrency = positive('concurrency');
const seed = Number(values.seed);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${values.seed}"`);
const backends = values.backend === 'both' ? ['sqlite', 'postgres'] : [values.backend];
for (const b of backends) if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--backend takes sqlite, postgres or both; got "${values.backend}"`);
const pgUrl = process.env.FUZZ_DATABASE_URL || process.env.TEST_DATABASE_URL || null;

const reports = [];
for (const backend of backends) {
  const report = await runFuzz({ backend, n, seed, concurrency, pgUrl, log: (line) => console.log(line) });
  console.log(formatReport(report));
  reports.push(report);
}
if (values.json) fs.writeFileSync(values.json, JSON.stringify(reports, null, 2));
process.exit(reports.every(isClean) ? 0 : 1);
