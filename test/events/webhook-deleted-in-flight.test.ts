// A subscription deleted while one of its deliveries is in flight: when the receiver finally answers, the outcome is
// dropped quietly (the delivery and its log went with the subscription), nothing is retried, and the dispatcher keeps
// delivering the other subscriptions' events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher, type DispatcherLog } from '../../src/events/dispatcher.js';
import { backends, startCoffer, type TestCoffer } from '../support/coffer.js';
import { okJson } from '../support/envelope.js';
import { FAST_WEBHOOKS, startReceiver, type Receiver } from '../support/webhook-receiver.js';

function recordingLog(): DispatcherLog & { lines: Array<{ level: string; obj: object; msg: string }> } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return {
    lines,
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

describe.each(backends)('a subscription deleted during a delivery (%s)', (backend) => {
  let coffer: TestCoffer;
  let receiver: Receiver;
  const json = () => ({ ...coffer.headers(), 'content-type': 'application/json' });
  const subscribe = async (path: string) =>
    (await okJson(await fetch(`${coffer.url}/webhook/webhooks`, { method: 'POST', headers: json(), body: JSON.stringify({ unified_api: 'crm', delivery_url: `${receiver.url}${path}`, events: ['vault.connection.created'] }) }), 201)).data;
  const connect = async (consumer: string) => {
    const res = await fetch(`${coffer.url}/vault/connections/crm/pipedrive`, { method: 'PATCH', headers: { ...json(), 'x-apideck-consumer-id': consumer }, body: JSON.stringify({ settings: { api_key: `key-${consumer}` } }) });
    expect(res.status, await res.text()).toBe(200);
  };
  const consumerOf = (d: { json: any }) => d.json?.payload?.entity?.consumer_id;

  beforeAll(async () => {
    receiver = await startReceiver();
    // The server's own dispatcher stays off: the test runs one whose log it reads.
    coffer = await startCoffer(backend, { ...FAST_WEBHOOKS, COFFER_WEBHOOK_POLL_MS: '0' });
  });
  afterAll(async () => {
    await coffer?.close();
    await receiver?.close();
  });

  it('drops the outcome quietly and keeps delivering the other subscriptions', async () => {
    const doomed = await subscribe('/doomed');
    const kept = await subscribe('/kept');
    const log = recordingLog();
    const dispatcher = new WebhookDispatcher(coffer.runtime.ctx, { ...coffer.runtime.config.webhooks, pollMs: 40 }, log);
    dispatcher.start();
    try {
      const hold = receiver.hold((d) => d.url.endsWith('/doomed'));
      await connect('in-flight-1');
      await hold.arrived;
      // The attempt is waiting for the receiver's answer: delete its subscription now, then let the receiver answer.
      await okJson(await fetch(`${coffer.url}/webhook/webhooks/${doomed.id}`, { method: 'DELETE', headers: coffer.headers() }));
      hold.release();

      // Later events still reach the other subscription.
      await connect('in-flight-2');
      await receiver.waitFor((accepted) => accepted.some((d) => d.url.endsWith('/kept') && consumerOf(d) === 'in-flight-2'));
    } finally {
      await dispatcher.stop();
    }

    expect(log.lines.filter((l) => l.level !== 'debug')).toEqual([]);
    const toDoomed = receiver.all.filter((d) => d.url.endsWith('/doomed'));
    expect(toDoomed.map(consumerOf)).toEqual(['in-flight-1']);
    expect(receiver.all.filter((d) => d.url.endsWith('/kept')).map(consumerOf).sort()).toEqual(['in-flight-1', 'in-flight-2']);
    // The delivery log keeps the other subscription's attempts; the deleted one's went with it.
    const attempts = (await okJson(await fetch(`${coffer.url}/webhook/logs`, { headers: coffer.headers() }))).data as any[];
    expect(attempts.map((a) => [a.endpoint, a.success])).toEqual([
      [`${receiver.url}/kept`, true],
      [`${receiver.url}/kept`, true],
    ]);
    expect(kept.id).toEqual(expect.any(String));
  });
});
