import { afterEach, describe, expect, it } from 'vitest';
import { createPusherProvider } from '../../providers/pusher/index.js';
import { signWebhook } from '../../providers/pusher-protocol/webhook.js';
import type { LifecycleEvent } from '../../src/server/lifecycle/events.js';
import { startBff, type TestBff } from '../helpers/bff.js';

const credentials = { appId: '1', key: 'hosted-key', secret: 'hosted-secret', cluster: 'eu' };

let bff: TestBff | undefined;
afterEach(async () => {
  await bff?.close();
  bff = undefined;
});

describe('POST /v1/webhooks/:provider', () => {
  it('verifies Pusher webhooks and hands them to the app as tenant-scoped lifecycle events, a repeated body only once', async () => {
    const received: LifecycleEvent[] = [];
    bff = await startBff({
      provider: createPusherProvider({ ...credentials, useTLS: true }),
      onWebhook: (events) => void received.push(...events),
    });
    const body = JSON.stringify({
      time_ms: Date.now(),
      events: [
        { name: 'member_added', channel: 'presence-chat.acme.lobby', user_id: 'ana' },
        { name: 'channel_vacated', channel: 'private-orders.globex.7' },
        { name: 'channel_occupied', channel: 'some-other-apps-channel' },
      ],
    });
    const send = (signature: string) =>
      fetch(`${bff!.url}/v1/webhooks/pusher`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pusher-key': credentials.key, 'x-pusher-signature': signature },
        body,
      });

    const forged = await send(signWebhook('other-secret', body));
    expect(forged.status).toBe(403);
    expect(received).toEqual([]);

    const genuine = await send(signWebhook(credentials.secret, body));
    expect(genuine.status).toBe(200);
    expect(received.map(({ type, data }) => ({ type, data }))).toEqual([
      { type: 'presence.joined', data: { tenant: 'acme', channel: 'chat:lobby', user: 'ana' } },
      { type: 'channel.vacated', data: { tenant: 'globex', channel: 'orders:7' } },
    ]);
    const [joined, vacated] = received;
    expect(joined?.id).toMatch(/^evt_/);
    expect(joined?.id).not.toBe(vacated?.id);
    expect(Number.isNaN(Date.parse(joined?.timestamp ?? ''))).toBe(false);

    // The same body again (a replay, or Pusher resending after a lost answer): taken once.
    const replay = await send(signWebhook(credentials.secret, body));
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ received: 0, duplicate: true });
    expect(received).toHaveLength(2);
  });

  it('refuses a stale Pusher webhook although genuinely signed, and takes a retry of one whose processing failed, with the same ids', async () => {
    const received: LifecycleEvent[] = [];
    let failNext = true;
    bff = await startBff({
      provider: createPusherProvider({ ...credentials, useTLS: true }),
      onWebhook: (events) => {
        if (failNext) {
          failNext = false;
          throw new Error('app callback down');
        }
        received.push(...events);
      },
    });
    const send = (timeMs: number) => {
      const body = JSON.stringify({ time_ms: timeMs, events: [{ name: 'member_added', channel: 'presence-chat.acme.lobby', user_id: 'ana' }] });
      return fetch(`${bff!.url}/v1/webhooks/pusher`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pusher-key': credentials.key, 'x-pusher-signature': signWebhook(credentials.secret, body) },
        body,
      });
    };
    const yearAgo = Date.now() - 365 * 24 * 3600_000;
    expect((await send(yearAgo)).status).toBe(403);
    expect((await send(Date.now() - 6 * 60_000)).status).toBe(403);

    const at = Date.now();
    expect((await send(at)).status).toBe(500);
    const retried = await send(at);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ received: 1 });
    expect(received.map((event) => event.type)).toEqual(['presence.joined']);
  });

  it('answers 404 for a provider that is not configured', async () => {
    bff = await startBff();
    expect((await bff.post('/v1/webhooks/ably', {})).status).toBe(404);
  });
});
