/**
 * Lifecycle events on Ably, from webhooks the emulator sends as Ably does (batched,
 * enveloped, signed; occupancy and presence keyed per connection, a dropped member kept 15 s
 * — shortened here), through the BFF's `/v1/webhooks/ably` into the lifecycle stream.
 * Switchboard's meaning must hold: `channel.occupied` = first subscriber, not "Ably made the
 * channel active" (which the BFF's own REST calls do), and `presence.joined`/`left` once per
 * user, whatever their tabs and reconnections.
 */
import { createHmac } from 'node:crypto';
import * as Ably from 'ably';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LifecycleEvent } from '../../src/server/lifecycle/index.js';
import { createAblyProvider, type AblyProvider } from '../../providers/ably/index.js';
import type { ClientGrant } from '../../providers/types.js';
import { EMULATOR_API_KEY, startAblyEmulator, type AblyEmulator } from '../fixtures/ably-emulator/index.js';
import { emulatorClient } from '../fixtures/ably-emulator/sdk-client.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { waitFor } from '../conformance/suite.js';

/** Ably keeps a dropped member 15 s; shortened, but long enough for the SDK to resume on a loaded machine. */
const GRACE_MS = 1000;

let emulator: AblyEmulator;
let provider: AblyProvider;
let bff: TestBff;
const received: LifecycleEvent[] = [];
const clients: Ably.Realtime[] = [];

function grant(tenant: string, user: string): ClientGrant {
  return { tenant, user, info: { name: user }, caps: { '*': ['subscribe', 'publish', 'presence'] }, expiresAt: Date.now() + 60_000 };
}

function realtime(tenant: string, user: string): Ably.Realtime {
  const client = emulatorClient(emulator, () => provider.ablyTokenRequest(grant(tenant, user)));
  clients.push(client);
  return client;
}

const about = (channel: string) => received.filter((event) => event.data.channel === channel).map((event) => `${event.type}${'user' in event.data ? ` ${event.data.user}` : ''}`);

/** Waits until the emulator has nothing left to send and the BFF answered everything. */
async function settled(): Promise<void> {
  await waitFor(() => emulator.webhookRules.every((rule) => rule.pending() === 0), 'webhooks to be sent');
  await new Promise((resolve) => setTimeout(resolve, 150));
  await waitFor(() => emulator.webhookRules.every((rule) => rule.pending() === 0), 'webhooks to be sent');
}

beforeAll(async () => {
  emulator = await startAblyEmulator({ presenceGraceMs: GRACE_MS, channelIdleMs: 300 });
  provider = createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false });
  bff = await startBff({ provider, onWebhook: (events) => void received.push(...events) });
  emulator.addWebhookRule({ url: `${bff.url}/v1/webhooks/ably`, sources: ['channel.lifecycle', 'channel.occupancy', 'channel.presence'], intervalMs: 50, retryMs: 50 });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});
afterAll(async () => {
  await bff?.close();
  await emulator?.close();
});

describe('Ably lifecycle: occupancy', () => {
  it('does not call a channel occupied because the BFF queried it (Ably opens it), only when a subscriber attaches', async () => {
    const response = await fetch(`${bff.url}/v1/channels/orders:quiet/occupancy`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } });
    expect(await response.json()).toEqual({ channel: 'orders:quiet', subscribers: 0 });
    // Ably reports the channel opened (the status request activated it), then closed when idle.
    await waitFor(() => emulator.webhookRules[0]?.deliveries.some((d) => d.items.some((i) => i.name === 'channel.closed' && i.data.channelId === 'orders:acme:quiet')) ?? false, 'channel.closed');
    await settled();
    expect(emulator.webhookRules[0]?.deliveries.every((delivery) => delivery.status === 200)).toBe(true);
    expect(about('orders:quiet')).toEqual([]);

    const subscriber = realtime('acme', 'ana');
    const channel = subscriber.channels.get('orders:acme:busy');
    await channel.attach();
    await waitFor(() => about('orders:busy').length === 1, 'channel.occupied');
    await channel.detach();
    await waitFor(() => about('orders:busy').length === 2, 'channel.vacated');
    await settled();
    expect(about('orders:busy')).toEqual(['channel.occupied', 'channel.vacated']);
  });
});

describe('Ably lifecycle: presence once per user', () => {
  it('two tabs are one join; closing one is not a leave; a dropped connection that comes back is not a leave', async () => {
    const tab1 = realtime('acme', 'ana');
    const tab2 = realtime('acme', 'ana');
    await tab1.channels.get('chat:acme:tabs').presence.enter({ name: 'Ana' });
    await tab2.channels.get('chat:acme:tabs').presence.enter({ name: 'Ana' });
    await waitFor(() => about('chat:tabs').includes('presence.joined ana'), 'ana to join');

    tab2.close();
    // The network drops tab1; the SDK resumes within the grace, keeping its member.
    emulator.dropConnections();
    await waitFor(() => emulator.resumes() > 0 && tab1.connection.state === 'connected', 'tab1 to resume');
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 400));
    await settled();
    expect(about('chat:tabs').filter((event) => event.startsWith('presence'))).toEqual(['presence.joined ana']);

    tab1.close();
    await waitFor(() => about('chat:tabs').includes('presence.left ana'), 'ana to leave');
    await settled();
    expect(about('chat:tabs').filter((event) => event.startsWith('presence'))).toEqual(['presence.joined ana', 'presence.left ana']);
  });

  it('a user who reconnects on a new connection (the old member leaves 15 s later) does not leave', async () => {
    const first = realtime('acme', 'bo');
    await first.channels.get('chat:acme:reconnect').presence.enter({ name: 'Bo' });
    await waitFor(() => about('chat:reconnect').includes('presence.joined bo'), 'bo to join');
    // Dropped for good (no resume): the transport opens a new connection and enters again.
    emulator.dropConnections();
    first.close();
    const second = realtime('acme', 'bo');
    await second.channels.get('chat:acme:reconnect').presence.enter({ name: 'Bo' });
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 400));
    await settled();
    expect(about('chat:reconnect').filter((event) => event.startsWith('presence'))).toEqual(['presence.joined bo']);
  });

  it('a member whose connection drops without coming back leaves after Ably\'s grace', async () => {
    const client = realtime('acme', 'cy');
    await client.channels.get('chat:acme:gone').presence.enter({ name: 'Cy' });
    await waitFor(() => about('chat:gone').includes('presence.joined cy'), 'cy to join');
    const started = Date.now();
    emulator.dropConnections();
    client.close();
    expect(emulator.channel('chat:acme:gone').members.size).toBe(1);
    await waitFor(() => about('chat:gone').includes('presence.left cy'), 'cy to leave');
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS);
    expect(emulator.channel('chat:acme:gone').members.size).toBe(0);
  });
});

describe('Ably webhooks as Ably sends them', () => {
  it('accepts X-Ably-Key naming the keyId, as Ably documents it', async () => {
    const rule = emulator.addWebhookRule({ url: `${bff.url}/v1/webhooks/ably`, sources: ['channel.presence'], keyHeader: 'keyId', intervalMs: 50, channelFilter: /keyid$/ });
    await realtime('acme', 'dee').channels.get('chat:acme:keyid').presence.enter({});
    await waitFor(() => rule.deliveries.length > 0, 'a delivery');
    expect(rule.deliveries[0]?.status).toBe(200);
    rule.close();
  });
});

describe('Ably webhook batches', () => {
  const sign = (raw: string) => createHmac('sha256', EMULATOR_API_KEY.slice(EMULATOR_API_KEY.indexOf(':') + 1)).update(raw).digest('base64');
  const post = (body: string) =>
    fetch(`${bff.url}/v1/webhooks/ably`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(body) }, body });
  const enter = (channelId: string, clientId: string, data: unknown = {}) => ({
    source: 'channel.presence',
    name: 'presence.message',
    timestamp: Date.now(),
    data: { channelId, site: 'x', presence: [{ clientId: `${channelId.split(':')[1]}:${clientId}`, connectionId: `conn-${clientId}`, action: 2, data }] },
  });

  it('keeps every good event of a batch with a malformed item, and ignores channels that are not Switchboard\'s and other tenants\' clients', async () => {
    const body = JSON.stringify({
      items: [
        enter('chat:acme:batch', 'eve'),
        { source: 'channel.presence', data: 'not an object' },
        { source: 'channel.presence', data: { channelId: 'chat:acme:batch', presence: [{ action: 'jump' }, { clientId: 'globex:mallory', connectionId: 'm', action: 2 }, { clientId: 'acme:fay', connectionId: 'f', action: 'enter' }] } },
        enter('someone-elses-channel', 'gus'),
        enter('[meta]channel.lifecycle', 'gus'),
        null,
      ],
    });
    const response = await post(body);
    expect(response.status).toBe(200);
    await waitFor(() => about('chat:batch').length === 2, 'both joins');
    expect(about('chat:batch')).toEqual(['presence.joined eve', 'presence.joined fay']);
    expect(received.some((event) => event.data.channel.includes('someone') || event.data.tenant === 'meta')).toBe(false);
  });

  it('accepts the largest batch Ably sends: 1,000 events, well over a megabyte', async () => {
    const items = Array.from({ length: 1000 }, (_, index) => enter('chat:acme:crowd', `user-${index}`, { bio: 'x'.repeat(1500) }));
    const body = JSON.stringify({ items });
    expect(Buffer.byteLength(body)).toBeGreaterThan(1024 * 1024);
    const response = await post(body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: 1000 });
  });
});

describe('Terminating a user reaches Ably', () => {
  /** Users whose app session has ended (the app logs them out as it terminates them). */
  const loggedOut = new Set<string>();

  async function bffClient(tenant: string, user: string): Promise<Ably.Realtime> {
    const session = await bff.devSession(tenant, user);
    const client = emulatorClient(emulator, async () => {
      if (loggedOut.has(`${tenant}:${user}`)) throw new Ably.ErrorInfo('app session ended', 40100, 401);
      const { token } = (await (await bff.post('/v1/token', {}, session)).json()) as { token: string };
      const answer = await bff.post('/v1/auth/ably', {}, token);
      if (!answer.ok) throw new Ably.ErrorInfo(`BFF answered ${answer.status}`, 40300, 403);
      return (await answer.json()) as Ably.TokenRequest;
    });
    clients.push(client);
    await client.connection.once('connected');
    return client;
  }

  it('revokes the user\'s Ably tokens by clientId: the live connection is cut and cannot come back; the same user id in another tenant stays', async () => {
    const ana = await bffClient('acme', 'ivy');
    const namesake = await bffClient('globex', 'ivy');
    await ana.channels.get('chat:acme:terminate').attach();
    const disconnections: string[] = [];
    namesake.connection.on('disconnected', () => disconnections.push('disconnected'));
    const before = emulator.requests.length;
    // Terminate revokes the tokens minted so far; a logout also ends the app's session, so no new one is minted.
    loggedOut.add('acme:ivy');
    const response = await bff.post('/v1/users/ivy/terminate', {}, API_KEYS.acme);
    expect(response.status).toBe(200);
    const revocation = emulator.requests.slice(before).find((call) => call.path === '/keys/emuApp.emuKey/revokeTokens');
    expect(revocation).toMatchObject({ method: 'POST', auth: 'basic:emuApp.emuKey', body: { targets: ['clientId:acme:ivy'] } });
    await waitFor(() => ana.connection.state !== 'connected', 'the connection to be cut');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ana.connection.state).not.toBe('connected');
    expect(namesake.connection.state).toBe('connected');
    expect(disconnections).toEqual([]);
  });

  it('says what the key needs when it has no revocable tokens', async () => {
    const other = await startAblyEmulator({ keys: [{ apiKey: 'emuApp.plain:plain-secret-0123456789' }] });
    const plain = await startBff({ provider: createAblyProvider({ apiKey: other.apiKey, endpoint: other.endpoint, port: other.port, tls: false }) });
    try {
      const response = await plain.post('/v1/users/ivy/terminate', {}, API_KEYS.acme);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { detail: string }).detail).toContain('Revocable tokens');
    } finally {
      await plain.close();
      await other.close();
    }
  });
});

describe('Ably admin view: paged, rate-limited enumeration; counts from webhooks', () => {
  it('pages past empty pages, backs off when refused, counts users not connections, and never calls Ably per scrape', async () => {
    const paged = await startAblyEmulator({ enumeration: { pageSize: 1, emptyPages: 2, minIntervalMs: 40 }, presenceGraceMs: GRACE_MS });
    const admin = createAblyProvider({ apiKey: paged.apiKey, endpoint: paged.endpoint, port: paged.port, tls: false, statsIntervalMs: 60_000, enumeration: { backoffMs: 20 } });
    const server = await startBff({ provider: admin });
    paged.addWebhookRule({ url: `${server.url}/v1/webhooks/ably`, sources: ['channel.occupancy', 'channel.presence'], intervalMs: 50 });
    const opened: Ably.Realtime[] = [];
    const join = async (user: string, channel: string) => {
      const tenant = channel.split(':')[1] ?? '';
      const client = emulatorClient(paged, () => admin.ablyTokenRequest(grant(tenant, user)));
      opened.push(client);
      await client.channels.get(channel).presence.enter({});
    };
    try {
      await join('ana', 'chat:acme:admin');
      await join('ana', 'chat:acme:admin');
      await join('bo', 'chat:acme:admin');
      await join('bo', 'chat:acme:other');
      await join('cy', 'chat:globex:admin');
      await waitFor(() => paged.webhookRules[0]?.pending() === 0 && (paged.webhookRules[0]?.deliveries.length ?? 0) > 0, 'webhooks');
      await new Promise((resolve) => setTimeout(resolve, 200));

      const [first, concurrent] = await Promise.all([admin.stats(), admin.stats()]);
      expect(concurrent).toEqual(first);
      expect(first).toEqual([
        { tenant: 'acme', channels: [{ channel: 'chat:admin', subscribers: 3, presenceMembers: 2 }, { channel: 'chat:other', subscribers: 1, presenceMembers: 1 }] },
        { tenant: 'globex', channels: [{ channel: 'chat:admin', subscribers: 1, presenceMembers: 1 }] },
      ]);
      expect(paged.enumeration.refused).toBeGreaterThan(0);
      const calls = paged.enumeration.calls;
      for (let scrape = 0; scrape < 3; scrape++) expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
      await admin.stats();
      expect(paged.enumeration.calls).toBe(calls);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('switchboard_channels{tenant="acme",provider="ably"} 2');
    } finally {
      for (const client of opened) client.close();
      await server.close();
      await paged.close();
    }
  });
});
