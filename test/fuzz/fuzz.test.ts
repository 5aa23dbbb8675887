// A bounded run of the fuzzer (fuzz/, `npm run fuzz`) on every backend: Coffer in its own process, the provider stub
// on loopback, ~3 000 seeded requests. Nothing may be Coffer's 5xx, hang, answer outside the envelope or leak A's
// secret to someone else, and the server must still be alive; every documented operation must have been requested.
import { describe, expect, it } from 'vitest';
import { backends } from '../support/coffer.js';
// @ts-expect-error plain ESM without types, run against dist/ like bench/
import { formatReport, runFuzz } from '../../fuzz/fuzz.mjs';

const REQUESTS = 3000;
const SEED = 7;

describe.each(backends)('fuzzing Coffer on %s', (backend) => {
  it(
    `${REQUESTS} generated requests: no Coffer 5xx, no hang, every answer in its envelope, server alive`,
    async () => {
      const report = await runFuzz({ backend, n: REQUESTS, seed: SEED, concurrency: 8, pgUrl: process.env.TEST_DATABASE_URL ?? null });
      console.log(formatReport(report));
      const unreached = Object.entries(report.coverage as Record<string, number>).filter(([, count]) => count === 0).map(([op]) => op);
      expect(unreached, 'operations never requested').toEqual([]);
      expect(report.totals.requests).toBe(REQUESTS);
      const distinct = (report.findings as Array<{ kind: string; op: string; detail: string }>).map((f) => `${f.kind} ${f.op}: ${f.detail}`).sort();
      expect(distinct, 'findings (kind × operation)').toEqual([]);
      expect(report.alive, 'server alive at the end').toBe(true);
    },
    300_000,
  );
});
