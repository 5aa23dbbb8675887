// Bulk loading (what the scale benchmark seeds with): consumers and sealed connections written in multi-row inserts
// read back through the API like any others, on both backends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { analyzeLoadedTables, insertConnections, insertConsumers } from '../../src/store/bulk-load.js';
import { encodeConnection } from '../../src/store/connection-record.js';
import { newConsumerRow } from '../../src/store/consumers.js';
import { blankConnection, sealedSettings } from '../../src/vault/connection-mutation.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';

describe.each(backends)('bulk load (%s)', (backend) => {
  let coffer: TestCoffer;

  beforeAll(async () => {
    coffer = await startCoffer(backend);
  });
  afterAll(async () => {
    await coffer?.close();
  });

  it('consumers and connections inserted in bulk are listed and read with their secrets', async () => {
    const { ctx, store } = coffer.runtime;
    const def = ctx.catalogue.get('pipedrive')!;
    const now = Date.now();
    // More rows than one statement takes on either backend (32 000 parameters), so the batching is exercised.
    const ids = Array.from({ length: 1_500 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
    await insertConsumers(
      store.db,
      ids.map((consumerId) => newConsumerRow(coffer.appId, consumerId, {}, now)),
    );
    const rows = [];
    for (const consumerId of ids) {
      const record = blankConnection({ applicationId: coffer.appId, consumerId }, def, 'crm');
      record.settings.api_key = `key-of-${consumerId}`;
      rows.push({ ...(await encodeConnection(ctx.keyring, sealedSettings(def), record, store.db)), version: 1, updated_at: now });
    }
    await insertConnections(store.db, rows);

    const page = await (await fetch(`${coffer.url}/vault/consumers?limit=200`, { headers: coffer.headers() })).json();
    expect(page.data.filter((c: { consumer_id: string }) => c.consumer_id.startsWith('bulk-'))).toHaveLength(200);
    for (const consumerId of [ids[0], ids[777], ids.at(-1)!]) {
      const res = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { headers: coffer.headers(consumerId) });
      const body = await res.json();
      expect(body.data.state).toBe('callable');
      expect(body.data.settings.api_key).toBe('********');
      const stored = await ctx.connections.find({ applicationId: coffer.appId, consumerId, serviceId: 'pipedrive' });
      expect(stored!.settings.api_key).toBe(`key-of-${consumerId}`);
    }

    // The planner's statistics then count the loaded rows (what lets PostgreSQL pick the index for a page).
    await analyzeLoadedTables(store.db);
    const counted =
      backend === 'postgres'
        ? (await sql<{ rows: number }>`select reltuples::int as rows from pg_class where oid = 'connections'::regclass`.execute(store.db)).rows[0].rows
        : Number((await sql<{ stat: string }>`select stat from sqlite_stat1 where tbl = 'connections' limit 1`.execute(store.db)).rows[0].stat.split(' ')[0]);
    expect(counted).toBeGreaterThanOrEqual(ids.length);
  });
});
