// Seeds a scale scenario into a running benchmark Coffer (bench/serve-coffer.mjs with BENCH_SEED_CONNECTIONS): consumers
// `scale-0`… with one API-key connection to each of SCALE_SERVICES connectors, every secret sealed by Coffer's own
// keyring (bound to its row, so each is sealed anew) and written with the store's bulk inserts.
import { encodeConnection } from '../dist/store/connection-record.js';
import { analyzeLoadedTables, insertConnections, insertConsumers } from '../dist/store/bulk-load.js';
import { newConsumerRow } from '../dist/store/consumers.js';
import { blankConnection, sealedSettings } from '../dist/vault/connection-mutation.js';

export const SCALE_SERVICES = 10;
const CONSUMERS_PER_BATCH = 2_000;

/** The first SCALE_SERVICES API-key connectors of the catalogue, each with the unified API it is read through. */
export function scaleConnectors(catalogue) {
  const defs = catalogue.all().filter((def) => def.auth_type === 'apiKey' && def.unified_apis.length > 0).slice(0, SCALE_SERVICES);
  if (defs.length < SCALE_SERVICES) throw new Error(`the catalogue has only ${defs.length} API-key connectors`);
  return defs;
}

/** Seeds `connections` connections (rounded up to whole consumers); resolves with what it wrote and how long it took. */
export async function seedScale(runtime, applicationId, connections) {
  const started = Date.now();
  const { keyring } = runtime.ctx;
  const db = runtime.store.db;
  const defs = scaleConnectors(runtime.ctx.catalogue);
  const consumerCount = Math.ceil(connections / defs.length);
  for (let first = 0; first < consumerCount; first += CONSUMERS_PER_BATCH) {
    const now = Date.now();
    const ids = Array.from({ length: Math.min(CONSUMERS_PER_BATCH, consumerCount - first) }, (_, i) => `scale-${first + i}`);
    await insertConsumers(
      db,
      ids.map((consumerId) => newConsumerRow(applicationId, consumerId, {}, now)),
    );
    const rows = [];
    for (const consumerId of ids) {
      for (const def of defs) {
        const record = blankConnection({ applicationId, consumerId }, def, def.unified_apis[0]);
        for (const field of def.form_fields) if (field.required || field.sensitive) record.settings[field.id] = field.sensitive ? `secret-${consumerId}-${def.id}` : 'scale';
        rows.push({ ...(await encodeConnection(keyring, sealedSettings(def), record, db)), version: 1, updated_at: now });
      }
    }
    await insertConnections(db, rows);
  }
  // As an operator would after a bulk load: the planner sees the tables as they now are.
  await analyzeLoadedTables(db);
  return {
    consumers: consumerCount,
    connections: consumerCount * defs.length,
    services: defs.map((def) => ({ serviceId: def.id, unifiedApi: def.unified_apis[0] })),
    seedMs: Date.now() - started,
  };
}
