// The caller's side of a proxied call. The caller's connection is never handed to the provider call: undici gets a
// stream of its own for the request body (it may abandon or destroy it without touching the caller's socket), the
// caller's body is drained once the answer is sent (else a keep-alive connection whose body was half read would never
// parse its next request), and a caller that hangs up aborts the provider call instead of counting as an error.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';

/** The caller closed its connection before the proxied call ended: its choice, not a failure of Coffer or the provider. */
export class CallerGoneError extends Error {
  readonly code = 'ECOFFER_CALLER_GONE';
  constructor() {
    super('The caller closed the connection before the proxied call ended');
    this.name = 'CallerGoneError';
  }
}

/** The caller's request body as a stream the provider call owns; it fails with CallerGoneError if the caller hangs up. */
export function requestBodyOf(raw: IncomingMessage): Readable {
  const body = new PassThrough();
  raw.pipe(body);
  const cut = () => {
    if (!raw.complete) body.destroy(new CallerGoneError());
  };
  raw.once('error', cut);
  raw.once('close', cut);
  return body;
}

/** Aborted (with CallerGoneError) when the caller's connection closes before its answer was sent. */
export function callerGoneSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new CallerGoneError());
  });
  return controller.signal;
}

/**
 * Once the answer is sent, whatever the provider call left of the caller's body is read and dropped (as node does for
 * a body nobody touched), so the next request on the connection is parsed. node stops dumping it by itself once
 * anything read from it.
 */
export function drainWhenAnswered(raw: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (raw.complete || raw.destroyed) return;
    raw.unpipe();
    raw.removeAllListeners('data');
    raw.resume();
  });
}

/** Past this much, a provider body nobody will see is cut off rather than read to its end. */
const DISCARD_LIMIT_BYTES = 1024 * 1024;

/** Reads and drops a provider body the caller's answer does not carry (its errors included: no one sees them). */
export function discardBody(body: Readable): void {
  let read = 0;
  body.on('error', () => {});
  body.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > DISCARD_LIMIT_BYTES) body.destroy();
  });
}
