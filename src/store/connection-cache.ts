// The read model of hot connection reads: decoded connections (secrets opened) with their consents and custom
// mappings, keyed by (application, consumer, service). Bounded in size (least recently used goes first) and in age,
// and emptied of whatever the change feed reports changed, by this process or another.
import type { Selectable } from 'kysely';
import type { ChangedScope, ChangeFeed } from './change-feed.js';
import type { ConnectionRecord } from './connection-record.js';
import type { ConnectionKey } from './connections.js';
import type { MappingRow } from './custom-mappings.js';
import type { ConsentsTable } from './schema.js';

export interface CachedConnection {
  /** null: no such connection (a miss is worth remembering too: the Hosted Vault reads every connector). */
  record: ConnectionRecord | null;
  consents?: Selectable<ConsentsTable>[];
  /** Custom mapping rows by unified API. */
  mappings?: Map<string, MappingRow[]>;
  readonly cachedAt: number;
}

export interface ConnectionCacheOptions {
  maxEntries: number;
  maxAgeMs: number;
}

/** Separator of the key's parts: ids never contain a NUL (refused at the door, see http/input-bounds.ts). */
const SEP = '\u0000';
const consumerPrefix = (applicationId: string, consumerId: string) => `${applicationId}${SEP}${consumerId}${SEP}`;
const keyOf = (key: ConnectionKey) => consumerPrefix(key.applicationId, key.consumerId) + key.serviceId;

export class ConnectionCache {
  private readonly entries = new Map<string, CachedConnection>();
  /** Moves on every invalidation: a load that saw it move may have read what was just replaced, and is not kept. */
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly changes: ChangeFeed,
    private readonly options: ConnectionCacheOptions,
  ) {
    changes.subscribe((scope) => this.invalidate(scope));
  }

  /** The cached entry of `key`, fresh as of what every process committed so far. */
  get(key: ConnectionKey): CachedConnection | undefined {
    this.changes.catchUp();
    const id = keyOf(key);
    const entry = this.entries.get(id);
    if (!entry) {
      this.misses += 1;
      return undefined;
    }
    if (Date.now() - entry.cachedAt > this.options.maxAgeMs) {
      this.entries.delete(id);
      this.misses += 1;
      return undefined;
    }
    // Most recently used last: the first key is the one to evict.
    this.entries.delete(id);
    this.entries.set(id, entry);
    this.hits += 1;
    return entry;
  }

  /** The entry of `key` if the read model holds a fresh one, without counting it as a read. */
  peek(key: ConnectionKey): CachedConnection | undefined {
    const entry = this.entries.get(keyOf(key));
    return entry && Date.now() - entry.cachedAt <= this.options.maxAgeMs ? entry : undefined;
  }

  /** Call before loading what is to be cached; pass the answer to `keep`. */
  startLoad(): number {
    this.changes.catchUp();
    return this.generation;
  }

  /** Keeps `entry` unless something changed since `startedAt` (then it may already be stale). */
  keep(key: ConnectionKey, entry: CachedConnection, startedAt: number): void {
    if (startedAt !== this.generation || this.options.maxEntries === 0) return;
    const id = keyOf(key);
    this.entries.delete(id);
    if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(id, entry);
  }

  /** Whether a part loaded since `startedAt` may be added to the live entry. */
  stillCurrent(startedAt: number): boolean {
    return startedAt === this.generation;
  }

  invalidate(scope: ChangedScope | null): void {
    this.generation += 1;
    if (scope === null) return this.entries.clear();
    if (scope.consumerId !== undefined && scope.serviceId !== undefined) {
      this.entries.delete(keyOf({ applicationId: scope.applicationId, consumerId: scope.consumerId, serviceId: scope.serviceId }));
      return;
    }
    const prefix = scope.consumerId === undefined ? `${scope.applicationId}${SEP}` : consumerPrefix(scope.applicationId, scope.consumerId);
    for (const id of this.entries.keys()) if (id.startsWith(prefix)) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
