// Opening a connection's sealed settings and tokens costs two AES-GCM decryptions and JSON parses per call; the proxy's
// hot path reads the same connections over and over. Every change to what is sealed bumps the row's `version` (and
// the health bookkeeping moves `updated_at`), so a decoded record keyed by id, version and updated_at is never stale.
import type { Selectable } from 'kysely';
import type { Keyring } from '../crypto/keyring.js';
import type { ConnectionsTable } from '../store/schema.js';
import { decodeConnection, type ConnectionRecord } from './connection-record.js';

const MAX_ENTRIES = 10_000;

export class DecodedConnections {
  private readonly entries = new Map<string, { key: string; record: ConnectionRecord }>();

  constructor(private readonly keyring: Keyring) {}

  /** The decoded record of `row`; callers must not mutate it (it is shared). */
  async decode(row: Selectable<ConnectionsTable>): Promise<ConnectionRecord> {
    const key = `${row.application_id}\u0000${row.version}\u0000${row.updated_at}`;
    const hit = this.entries.get(row.id);
    if (hit && hit.key === key) return hit.record;
    const record = await decodeConnection(this.keyring, row);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(row.id, { key, record });
    return record;
  }
}
