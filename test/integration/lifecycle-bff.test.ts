/**
 * The lifecycle stream through a whole BFF: the local server's occupancy and presence
 * changes and the pipeline's permanent refusals reach the app's endpoint (signed, verified
 * by the reference library) and the in-process callback, with the same ids; dead letters
 * show on the admin API and can be redelivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { ProviderPublishError } from '../../providers/publish-error.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { LifecycleEvent } from '../../src/server/lifecycle/events.js';
import { MemoryWebhookOutbox } from '../../src/server/lifecycle/memory-outbox.js';
import { createFakeProvider } from '../helpers/fake-provider.js';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { grant } from '../helpers/local-harness.js';
import { RawClient } from '../helpers/raw-pusher-client.js';
import { testSecret, WebhookReceiver, type Delivery } from '../helpers/webhook-receiver.js';

const SECRET = testSecret('bff');
// Short retries; a generous timeout, so a loaded machine's slow answer is not mistaken for none.
const FAST = { timeoutMs: 3000, backoff: { baseMs: 10, capMs: 40 }, pollMs: 20 };

let bff: TestBff | undefined;
let app: WebhookReceiver | undefined;
afterEach(async () => {
  await bff?.close();
  await app?.close();
  bff = app = undefined;
});

/** `type tenant/channel [user]` of each delivered event. */
const summary = (deliveries: Delivery[]) =>
  deliveries.map(({ event }) => `${event.type} ${event.data.tenant}/${event.data.channel}${event.data.user ? ` ${event.data.user}` : ''}`);

describe('lifecycle events from a BFF', () => {
  it('local server: occupied/vacated once per channel, joined/left once per user however many tabs, same ids in-process and over HTTP', async () => {
    app = await WebhookReceiver.start(SECRET);
    const inProcess: LifecycleEvent[] = [];
    const provider = createLocalProvider();
    bff = await startBff({
      provider,
      onWebhook: (events) => void inProcess.push(...events),
      webhooks: { url: app.url, secrets: [SECRET], outbox: new MemoryWebhookOutbox(), tuning: FAST },
    });
    const lobby = toPusherChannel('acme', 'chat:lobby', true);
    const join = async (user: string) => {
      const client = await RawClient.connected(bff!.port);
      const auth = provider.authorizeChannel({ grant: grant('acme', user), socketId: client.socketId, channel: 'chat:lobby', providerChannel: lobby, presence: true, clientEvents: [] });
      await client.subscribe(lobby, auth);
      return client;
    };
    const anaTab1 = await join('ana');
    const anaTab2 = await join('ana');
    const bob = await join('bob');
    anaTab1.send({ event: 'pusher:unsubscribe', data: { channel: lobby } });
    bob.ws.terminate();
    await app.waitFor(() => app!.unique().length === 4);
    anaTab2.ws.terminate();

    const expected = [
      'channel.occupied acme/chat:lobby',
      'presence.joined acme/chat:lobby ana',
      'presence.joined acme/chat:lobby bob',
      'presence.left acme/chat:lobby bob',
      'presence.left acme/chat:lobby ana',
      'channel.vacated acme/chat:lobby',
    ];
    await app.waitFor(() => app!.unique().length >= expected.length);
    expect(summary(app.unique())).toEqual(expected);
    expect(app.unique().map((d) => d.id)).toEqual(inProcess.map((event) => event.id));
    expect(app.unique().map((d) => d.body)).toEqual(inProcess.map((event) => JSON.stringify(event)));
    expect(app.rejected).toBe(0);
  });

  it('local server: a graceful shutdown reports its members leaving and its channels vacated before the store closes', async () => {
    const outbox = new MemoryWebhookOutbox();
    const inProcess: LifecycleEvent[] = [];
    const provider = createLocalProvider();
    bff = await startBff({
      provider,
      onWebhook: (events) => void inProcess.push(...events),
      webhooks: { url: 'http://127.0.0.1:9/', secrets: [SECRET], outbox, tuning: FAST },
    });
    const lobby = toPusherChannel('acme', 'chat:lobby', true);
    const client = await RawClient.connected(bff.port);
    await client.subscribe(lobby, provider.authorizeChannel({ grant: grant('acme', 'ana'), socketId: client.socketId, channel: 'chat:lobby', providerChannel: lobby, presence: true, clientEvents: [] }));
    await bff.close();
    bff = undefined;
    expect(inProcess.map((event) => event.type)).toEqual(['channel.occupied', 'presence.joined', 'presence.left', 'channel.vacated']);
    // All four are still queued for the app (nothing listened on port 9).
    const queued: string[] = [];
    const later = Date.now() + 3_600_000; // past any retry the sender had scheduled
    for (let [head] = await outbox.claimDue(later, 1, 0); head; [head] = await outbox.claimDue(later, 1, 0)) {
      queued.push(head.id);
      await outbox.delivered(head.id);
    }
    expect(queued).toEqual(inProcess.map((event) => event.id));
  });

  it('pipeline: an event the provider refuses for good becomes delivery.failed', async () => {
    const inProcess: LifecycleEvent[] = [];
    const provider = createFakeProvider();
    provider.publish = async () => {
      throw new ProviderPublishError('refused: payload rejected', 0, true);
    };
    bff = await startBff({ provider, onWebhook: (events) => void inProcess.push(...events) });
    const response = await bff.post('/v1/publish', { channel: 'orders:7', event: 'status', data: { n: 1 }, id: 'evt-1' }, API_KEYS.acme);
    expect(response.ok).toBe(true);
    for (let i = 0; i < 200 && inProcess.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(inProcess).toHaveLength(1);
    expect(inProcess[0]).toMatchObject({ type: 'delivery.failed', data: { tenant: 'acme', channel: 'orders:7', eventId: 'evt-1', seq: 1, event: 'status' } });
    expect(inProcess[0]?.type === 'delivery.failed' && inProcess[0].data.reason).toContain('refused');
  });

  it('dead letters: on the admin stats and list, tenant-scoped, redelivered with the same id via the API', async () => {
    app = await WebhookReceiver.start(SECRET);
    app.mode = 'error';
    const provider = createFakeProvider();
    provider.publish = async () => {
      throw new ProviderPublishError('refused', 0, true);
    };
    bff = await startBff({
      provider,
      webhooks: { url: app.url, secrets: [SECRET], outbox: new MemoryWebhookOutbox(), tuning: { ...FAST, retryForMs: 100 } },
    });
    await bff.post('/v1/publish', { channel: 'orders:9', event: 'status', data: {}, id: 'poison' }, API_KEYS.acme);
    const get = (path: string, key: string) => fetch(`${bff!.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    let listed: { total: number; deadLetters: { id: string; tenant: string; lastError: string; event: { type: string } }[] } = { total: 0, deadLetters: [] };
    for (let i = 0; i < 200 && listed.total === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      listed = (await (await get('/v1/admin/webhooks/dead-letters', ADMIN_KEY)).json()) as typeof listed;
    }
    expect(listed.total).toBe(1);
    expect(listed.deadLetters[0]).toMatchObject({ tenant: 'acme', lastError: 'HTTP 500', event: { type: 'delivery.failed' } });
    const deadId = listed.deadLetters[0]?.id;

    const stats = (await (await get('/v1/admin/stats', ADMIN_KEY)).json()) as { tenants: { tenant: string; webhookDeadLetters?: { total: number } }[] };
    expect(stats.tenants.find((row) => row.tenant === 'acme')?.webhookDeadLetters?.total).toBe(1);

    // Another tenant's key sees none of it and cannot redeliver it.
    const globexList = (await (await get('/v1/admin/webhooks/dead-letters', API_KEYS.globex)).json()) as typeof listed;
    expect(globexList.total).toBe(0);
    expect((await get('/v1/admin/webhooks/dead-letters?tenant=acme', API_KEYS.globex)).status).toBe(403);
    const globexRedeliver = await bff.post('/v1/admin/webhooks/redeliver', { ids: [deadId] }, API_KEYS.globex);
    expect(await globexRedeliver.json()).toEqual({ redelivered: 0 });
    expect((await bff.post('/v1/admin/webhooks/redeliver', { ids: [] }, ADMIN_KEY)).status).toBe(400);
    expect((await bff.post('/v1/admin/webhooks/redeliver', { tenant: 'acme', extra: 1 }, ADMIN_KEY)).status).toBe(400);
    expect((await get('/v1/admin/webhooks/dead-letters', 'nobody')).status).toBeGreaterThanOrEqual(400);

    app.mode = 'ok';
    const redeliver = await bff.post('/v1/admin/webhooks/redeliver', { ids: [deadId] }, API_KEYS.acme);
    expect(await redeliver.json()).toEqual({ redelivered: 1 });
    await app.waitFor(() => app!.accepted.length === 1);
    expect(app.accepted[0]?.id).toBe(deadId);

    const metrics = await (await fetch(`${bff.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchboard_webhook_attempts_total\{result="dead"\} 1$/m);
    expect(metrics).toMatch(/^switchboard_webhook_attempts_total\{result="delivered"\} 1$/m);
    // Every request the endpoint saw is counted once: 500s as failed (or dead, once past the retry window), the redelivery as delivered.
    const counted = (result: string) => Number(new RegExp(`^switchboard_webhook_attempts_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    expect(counted('failed') + counted('dead') + counted('delivered')).toBe(app.attempts.length);
  });

  it('answers 404 on the dead-letter API when no webhook endpoint is configured; the API is in the OpenAPI document', async () => {
    bff = await startBff();
    const response = await fetch(`${bff.url}/v1/admin/webhooks/dead-letters`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(response.status).toBe(404);
    const document = (await (await fetch(`${bff.url}/v1/openapi.json`)).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, { properties?: object }> } };
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/admin/webhooks/dead-letters', '/v1/admin/webhooks/redeliver']));
    expect(Object.keys(document.components.schemas.RedeliverRequest?.properties ?? {})).toEqual(['ids', 'tenant']);
  });
});
