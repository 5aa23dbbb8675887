// Delivers the outbox: each event fans out to one delivery per matching subscription, and each delivery is attempted
// with exponential backoff until the receiver answers 2xx or the attempts run out (then the subscription is disabled
// with `retry_limit`, as Apideck does). On PostgreSQL any number of instances share the work: rows are claimed with
// `FOR UPDATE SKIP LOCKED` and a claim bumps the attempt number, so each attempt is made by exactly one instance.
import type { WebhookConfig } from '../config.js';
import { GuardedClient } from '../outbound/guarded-client.js';
import { readJson } from '../store/database.js';
import { eventsAppended } from '../store/outbox.js';
import { cancelDelivery, claimDueDeliveries, fanOutEvents, recordAttempt, type ClaimedDelivery, type NewDelivery } from '../store/webhook-deliveries.js';
import type { VaultContext } from '../vault/context.js';
import { uuidv7 } from '../vault/ids.js';
import { apideckSignature, canonicalBody, standardWebhookSignature } from './signatures.js';
import { signingSecrets, type WebhookRow } from './subscriptions.js';

const BATCH = 20;
/** Events handed to the subscriptions per round. */
const FAN_OUT_BATCH = 200;
const RESPONSE_BODY_LIMIT = 2_048;

interface EventEnvelope {
  payload: { event_type: string; execution_attempt: number; entity: { unified_api?: string } };
}

interface AttemptOutcome {
  statusCode: number;
  responseBody: string | null;
}

export interface DispatcherLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Wait before attempt `attempt + 1`: doubles from `backoffMs`, capped, with ±20 % jitter so retries do not align. */
export function backoffDelay(config: WebhookConfig, attempt: number): number {
  const base = Math.min(config.backoffMaxMs, config.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.min(config.backoffMaxMs, Math.round(base * (0.8 + Math.random() * 0.4)));
}

export class WebhookDispatcher {
  private stopped = false;
  private nudged = false;
  private seenAppended = eventsAppended();
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  /** Webhooks' own policy (any scheme; private receivers only when allowed) on the one guarded client. */
  private readonly outbound: GuardedClient;

  constructor(
    private readonly ctx: VaultContext,
    private readonly config: WebhookConfig,
    private readonly log: DispatcherLog,
  ) {
    this.outbound = new GuardedClient({ allowInsecure: true, allowPrivateNetworks: config.allowPrivateNetworks }, { connectTimeoutMs: Math.min(10_000, config.timeoutMs) });
  }

  /** Polls every `pollMs` (and at once after `nudge`) until `stop`. */
  start(): void {
    if (this.config.pollMs === 0 || this.loop) return;
    this.loop = (async () => {
      while (!this.stopped) {
        let busy = false;
        this.nudged = false;
        try {
          busy = (await this.runOnce()) === BATCH;
        } catch (error) {
          this.log.error({ err: error }, 'webhook dispatch failed');
        }
        if (!busy && !this.nudged && !this.stopped) await this.pause(this.config.pollMs);
      }
    })();
  }

  /** Called once a request is answered (its transaction committed): looks now if it appended events. */
  nudgeIfEventsAppended(): void {
    const appended = eventsAppended();
    if (appended === this.seenAppended) return;
    this.seenAppended = appended;
    this.nudge();
  }

  /** New events were written: look now instead of at the next poll. */
  private nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.outbound.close();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /** One round: fan out new events, then make every due attempt. Returns how many attempts were made. */
  async runOnce(): Promise<number> {
    await this.fanOut();
    const claimed = await this.claimDue();
    // One attempt that cannot be recorded is retried when its lease ends; it never fails the others of the round.
    await Promise.all(
      claimed.map((item) =>
        this.attempt(item).catch((error: unknown) => this.log.error({ err: error, delivery_id: item.delivery.id, webhook_id: item.delivery.webhook_id }, 'webhook attempt failed')),
      ),
    );
    return claimed.length;
  }

  /** Outbox rows become deliveries; `outbox.delivered_at` marks the event as handed to the subscriptions. */
  private async fanOut(): Promise<void> {
    await fanOutEvents(this.ctx.db, this.ctx.dialect, FAN_OUT_BATCH, (events, hooks, now) =>
      events.flatMap((event) =>
        hooks
          .filter((hook) => hook.application_id === event.application_id && hook.created_at <= event.created_at)
          .filter((hook) => subscribesTo(readJson<string[]>(hook.events, []), event.event_type))
          .map((hook) => newDelivery(event.application_id, hook.id, event.id, now)),
      ),
    );
  }

  /** Takes due deliveries and bumps their attempt number; the lease makes a crashed instance's attempt due again. */
  private async claimDue(): Promise<ClaimedDelivery[]> {
    const now = Date.now();
    // An attempt ends within `timeoutMs`; twice that (plus slack for the bookkeeping) is a safe lease.
    const leaseUntil = now + this.config.timeoutMs * 2 + 1_000;
    return claimDueDeliveries(this.ctx.db, this.ctx.dialect, { now, leaseUntil, limit: BATCH });
  }

  private async attempt({ delivery, webhook, event }: ClaimedDelivery): Promise<void> {
    const { db } = this.ctx;
    if (!webhook || !event || webhook.status !== 'enabled') {
      await cancelDelivery(db, delivery.application_id, delivery.id);
      return;
    }
    const attempt = delivery.attempts;
    const envelope = readJson<EventEnvelope>(event.payload, { payload: {} } as EventEnvelope);
    envelope.payload.execution_attempt = attempt;
    const body = canonicalBody(envelope);
    const started = performance.now();
    const outcome = await this.post(webhook, delivery.id, event.event_type, body);
    const durationMs = performance.now() - started;
    const success = outcome.statusCode >= 200 && outcome.statusCode < 300;
    const exhausted = !success && attempt >= this.config.maxAttempts;
    const now = Date.now();

    const { webhookDisabled, gone } = await recordAttempt(
      db,
      delivery,
      success
        ? { outcome: 'delivered', statusCode: outcome.statusCode }
        : exhausted
          ? { outcome: 'exhausted', statusCode: outcome.statusCode }
          : { outcome: 'retry', statusCode: outcome.statusCode, nextAttemptAt: now + backoffDelay(this.config, attempt) },
      {
        id: uuidv7(now),
        event_type: event.event_type,
        consumer_id: event.consumer_id,
        service_id: event.service_id,
        unified_api: envelope.payload.entity?.unified_api ?? 'vault',
        endpoint: webhook.delivery_url,
        execution_attempt: attempt,
        status_code: outcome.statusCode,
        success: success ? 1 : 0,
        request_body: body,
        response_body: outcome.responseBody,
        duration_ms: durationMs,
        created_at: now,
      },
    );
    // The subscription was deleted while this attempt was in flight: its outcome has nowhere to go.
    if (gone) this.log.debug({ webhook_id: webhook.id, delivery_id: delivery.id }, 'webhook deleted during a delivery attempt; its outcome is dropped');
    if (webhookDisabled) this.log.warn({ webhook_id: webhook.id, event_id: delivery.event_id }, 'webhook disabled after its last delivery attempt failed');
  }

  /** One POST; any failure to get an answer (refused, timeout, blocked address) is status 0, as in Apideck's log. */
  private async post(webhook: WebhookRow, deliveryId: string, eventType: string, body: string): Promise<AttemptOutcome> {
    try {
      const url = new URL(webhook.delivery_url);
      this.outbound.check(url);
      const { secrets, apideckKey } = await signingSecrets(this.ctx, webhook);
      const timestamp = Math.floor(Date.now() / 1000);
      // undici's request never follows redirects: a 3xx is a failed attempt, not a hop to another host.
      const response = await this.outbound.agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        body,
        signal: AbortSignal.timeout(this.config.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Coffer-Webhooks/1',
          'x-apideck-event-type': eventType,
          'x-apideck-signature': apideckSignature(body, apideckKey),
          'x-apideck-idempotency-key': deliveryId,
          'webhook-id': deliveryId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': standardWebhookSignature(deliveryId, timestamp, body, secrets),
        },
      });
      const text = await response.body.text().catch(() => '');
      return { statusCode: response.statusCode, responseBody: text.slice(0, RESPONSE_BODY_LIMIT) };
    } catch (error) {
      const message = error instanceof Error ? (error.name === 'TimeoutError' || error.name === 'AbortError' ? 'timed out' : error.message) : String(error);
      return { statusCode: 0, responseBody: message.slice(0, RESPONSE_BODY_LIMIT) };
    }
  }
}

export function subscribesTo(events: string[], eventType: string): boolean {
  return events.includes('*') || events.includes(eventType);
}

/** A delivery of an event to one subscription, due now; its id is the idempotency key of every attempt. */
export function newDelivery(applicationId: string, webhookId: string, eventId: string, now: number): NewDelivery {
  return {
    id: uuidv7(now),
    application_id: applicationId,
    webhook_id: webhookId,
    event_id: eventId,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    last_status_code: null,
    delivered_at: null,
    created_at: now,
  };
}
