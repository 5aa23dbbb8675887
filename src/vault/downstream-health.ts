// `last_downstream_error_at`: set when a provider call through the proxy fails at the network level or with a
// 502/503/504, cleared by the next call the provider answers. Only transitions write (a conditional UPDATE, so among
// concurrent calls exactly one wins and emits the event); a call that changes nothing costs no write.
import type { ConnectorDefinition } from '../connectors/types.js';
import type { ConnectionRecord } from '../store/connection-record.js';
import { connectionEvent } from './connection-mutation.js';
import type { VaultContext } from './context.js';

/** The provider answered: a 502/503/504 counts as unreachable, anything else as reachable. */
export const isDownstreamFailureStatus = (status: number) => status === 502 || status === 503 || status === 504;

function transition(ctx: VaultContext, def: ConnectorDefinition, rec: ConnectionRecord, unifiedApi: string, failed: boolean): Promise<boolean> {
  const type = failed ? 'vault.connection.downstream.degraded' : 'vault.connection.downstream.recovered';
  return ctx.connections.markDownstream(rec, failed, (after) => [connectionEvent(def, after, type, unifiedApi)]);
}

/** Records the outcome of one provider call; returns whether it changed the connection's health. */
export function recordDownstreamOutcome(
  ctx: VaultContext,
  def: ConnectorDefinition,
  rec: ConnectionRecord,
  unifiedApi: string,
  failed: boolean,
): Promise<boolean> | false {
  const degraded = rec.lastDownstreamErrorAt !== null;
  if (failed === degraded) return false;
  return transition(ctx, def, rec, unifiedApi, failed);
}
