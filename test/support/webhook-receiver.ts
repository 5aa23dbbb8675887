// A webhook receiver on 127.0.0.1: records every delivery exactly as it arrived (raw body, headers), answers with a
// programmable status (fail the first N, then accept), and verifies both signatures the way receivers do: Standard
// Webhooks with the `standardwebhooks` package, Apideck's with the rule from its signature guide.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** Dispatcher settings that make retries happen within a test's time (and allow the receiver on loopback). */
export const FAST_WEBHOOKS = {
  COFFER_WEBHOOK_POLL_MS: '40',
  COFFER_WEBHOOK_BACKOFF_MS: '40',
  COFFER_WEBHOOK_BACKOFF_MAX_MS: '300',
  COFFER_WEBHOOK_TIMEOUT_MS: '3000',
  COFFER_ALLOW_PRIVATE_WEBHOOKS: 'true',
};

export interface Delivery {
  /** The path (and query) it was posted to. */
  url: string;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** The status this receiver answered. */
  answered: number;
}

export interface Receiver {
  url: string;
  all: Delivery[];
  /** Deliveries answered 2xx. */
  accepted(): Delivery[];
  /** The next `n` deliveries are answered `status`; then 200 again. */
  failNext(n: number, status?: number): void;
  /** Every delivery is answered `status` until changed (`null`: back to 200). */
  failAlways(status: number | null): void;
  /**
   * Deliveries matching `match` that arrive from now on are not answered until `release()`: an attempt held in flight.
   * `arrived` resolves with the first of them.
   */
  hold(match?: (delivery: Delivery) => boolean): { arrived: Promise<Delivery>; release(): void };
  /** Resolves when `predicate` holds for the accepted deliveries, or rejects after `timeoutMs`. */
  waitFor(predicate: (accepted: Delivery[]) => boolean, timeoutMs?: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

export async function startReceiver(options: { delayMs?: number } = {}): Promise<Receiver> {
  const all: Delivery[] = [];
  let failures = 0;
  let failureStatus = 503;
  let always: number | null = null;
  let held: { match: (d: Delivery) => boolean; arrived: (d: Delivery) => void; answers: Array<() => void> } | null = null;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let answered = 200;
      if (always !== null) answered = always;
      else if (failures > 0) {
        failures -= 1;
        answered = failureStatus;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
      let json: any = null;
      try {
        json = JSON.parse(body);
      } catch {
        // recorded as is; the test decides
      }
      const delivery: Delivery = { url: req.url ?? '', headers, body, json, answered };
      all.push(delivery);
      const answer = () =>
        setTimeout(() => {
          res.writeHead(answered, { 'content-type': 'text/plain' });
          res.end(answered < 300 ? 'ok' : 'try again later');
        }, options.delayMs ?? 0);
      if (held?.match(delivery)) {
        held.answers.push(answer);
        held.arrived(delivery);
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/coffer`;
  const accepted = () => all.filter((d) => d.answered >= 200 && d.answered < 300);
  return {
    url,
    all,
    accepted,
    failNext(n, status = 503) {
      failures = n;
      failureStatus = status;
    },
    failAlways(status) {
      always = status;
    },
    hold(match = () => true) {
      let arrived!: (d: Delivery) => void;
      const first = new Promise<Delivery>((resolve) => (arrived = resolve));
      const hold = { match, arrived, answers: [] as Array<() => void> };
      held = hold;
      return {
        arrived: first,
        release() {
          if (held === hold) held = null;
          for (const answer of hold.answers) answer();
        },
      };
    },
    async waitFor(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(accepted())) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met in ${timeoutMs} ms; got ${all.length} deliveries (${accepted().length} accepted)`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return accepted();
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

/** Standard Webhooks verification exactly as a receiver does it; throws when the signature does not verify. */
export function verifyStandardWebhook(secret: string, delivery: Delivery): unknown {
  return new Webhook(secret).verify(delivery.body, delivery.headers);
}

/** Apideck's guide: sort object keys recursively, JSON-encode, HMAC-SHA256 with the API key, hex; constant-time compare. */
export function verifyApideckSignature(apiKey: string, delivery: Delivery): boolean {
  const sortObjectKeys = (obj: unknown): unknown => {
    if (obj === null || typeof obj !== 'object') return obj;
    if (Array.isArray(obj)) return obj.map(sortObjectKeys);
    return Object.keys(obj as object)
      .sort()
      .reduce<Record<string, unknown>>((acc, key) => {
        acc[key] = sortObjectKeys((obj as Record<string, unknown>)[key]);
        return acc;
      }, {});
  };
  const expected = crypto.createHmac('sha256', apiKey).update(JSON.stringify(sortObjectKeys(JSON.parse(delivery.body)))).digest('hex');
  const given = delivery.headers['x-apideck-signature'] ?? '';
  return given.length === expected.length && crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}
