// `COFFER_WORKERS` > 1: this process is the primary. It forks the workers that serve the port (node:cluster shares
// it), starts another when one dies, and stops them all on SIGTERM/SIGINT. It serves nothing itself. Workers share
// nothing in memory: refresh leases, webhook claims and the change feed that keeps each read model current all go
// through the database, as they do between instances on several machines.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** What a worker tells the primary once it listens. */
export interface ListeningMessage {
  coffer: 'listening';
  publicUrl: string;
}

const isListeningMessage = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' && message !== null && (message as { coffer?: unknown }).coffer === 'listening';

/** A worker that lived at least this long was healthy: the next one starts without waiting. */
const HEALTHY_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;
/** Workers still running this long after SIGTERM are killed. */
const STOP_GRACE_MS = 15_000;

export interface SupervisorOptions {
  workers: number;
  logger: Logger;
  /** Called once, when the first worker listens. */
  onListening: (publicUrl: string) => void;
}

export function superviseWorkers({ workers, logger, onListening }: SupervisorOptions): void {
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let announced = false;
  let quickExits = 0;

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (!isListeningMessage(message) || announced) return;
      announced = true;
      onListening(message.publicUrl);
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) {
      if (startedAt.size === 0) process.exit(0);
      return;
    }
    // A worker that keeps dying at start (a bad setting, the database gone) is restarted ever more slowly.
    quickExits = lived >= HEALTHY_AFTER_MS ? 0 : quickExits + 1;
    const delay = quickExits === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (quickExits - 1));
    logger.error({ exited_worker: worker.id, exited_pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker exited; starting another');
    setTimeout(fork, delay);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (startedAt.size === 0) process.exit(0);
    for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      logger.error({ workers: startedAt.size }, 'workers did not stop in time; killing them');
      for (const worker of startedAt.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_GRACE_MS).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  for (let i = 0; i < workers; i++) fork();
}

/** In a worker: tells the primary the server listens (it prints the banner once for all). */
export function reportListening(publicUrl: string): void {
  const message: ListeningMessage = { coffer: 'listening', publicUrl };
  process.send?.(message);
}
