/**
 * The ops surface: Prometheus metrics, the admin stats API behind the admin page, and
 * the demo publishing endpoints — against a real BFF with the embedded local provider.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { bffClient, subscribed, type Pusher } from '../helpers/pusher-js.js';

let bff: TestBff | undefined;
const clients: Pusher[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await bff?.close();
  bff = undefined;
});

async function startWithLocal(): Promise<TestBff> {
  return startBff({ provider: createLocalProvider({}) });
}

/** A pusher-js client of `tenant` subscribed to `channel` through the BFF's channel authorization. */
async function subscribe(server: TestBff, tenant: string, user: string, providerChannel: string): Promise<Pusher> {
  const { token } = await server.capabilityToken(tenant, user);
  const client = bffClient(server, token);
  clients.push(client);
  await subscribed(client.subscribe(providerChannel));
  return client;
}

interface StatsAnswer {
  provider: string;
  tenants: { tenant: string; connections: number; publishRate: number[]; deliveryRate: number[]; channels: { channel: string; subscribers: number; members?: { id: string }[] }[] }[];
}

async function stats(server: TestBff, credential: string): Promise<{ status: number; body: StatsAnswer }> {
  const response = await fetch(`${server.url}/v1/admin/stats`, { headers: { authorization: `Bearer ${credential}` } });
  return { status: response.status, body: (await response.json()) as StatsAnswer };
}

describe('GET /v1/admin/stats', () => {
  it('shows connections, channels, presence members and publish rate per tenant', async () => {
    bff = await startWithLocal();
    await subscribe(bff, 'acme', 'ana', 'presence-chat.acme.lobby');
    await subscribe(bff, 'acme', 'bo', 'private-orders.acme.1001');
    await subscribe(bff, 'globex', 'gus', 'private-orders.globex.7');
    await bff.post('/v1/publish', { channel: 'orders:1001', event: 'status', data: {} }, API_KEYS.acme);

    const all = await stats(bff, ADMIN_KEY);
    expect(all.status).toBe(200);
    expect(all.body.provider).toBe('local');
    const acme = all.body.tenants.find((row) => row.tenant === 'acme');
    expect(acme).toMatchObject({ connections: 2 });
    expect(acme?.channels).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ channel: 'chat:lobby', subscribers: 1, members: [expect.objectContaining({ id: 'ana' })] }),
        expect.objectContaining({ channel: 'orders:1001', subscribers: 1 }),
      ]),
    );
    const total = (series: number[] | undefined) => (series ?? []).reduce((sum, value) => sum + value, 0);
    expect(total(acme?.publishRate)).toBe(1);
    // "delivered" was answered, so the provider has taken it: one delivery in the same window.
    expect(acme?.deliveryRate).toHaveLength(acme?.publishRate.length ?? -1);
    expect(total(acme?.deliveryRate)).toBe(1);
    expect(all.body.tenants.map((row) => row.tenant)).toEqual(['acme', 'globex']);
  });

  it('limits tenant keys and admin-role users to their own tenant, and refuses others', async () => {
    bff = await startWithLocal();
    await subscribe(bff, 'acme', 'ana', 'private-orders.acme.1');
    await subscribe(bff, 'globex', 'gus', 'private-orders.globex.1');
    expect((await stats(bff, API_KEYS.globex)).body.tenants.map((row) => row.tenant)).toEqual(['globex']);
    const admin = await bff.capabilityToken('acme', 'boss', { roles: ['admin'] });
    expect((await stats(bff, admin.token)).body.tenants.map((row) => row.tenant)).toEqual(['acme']);
    const member = await bff.capabilityToken('acme', 'ana');
    expect((await stats(bff, member.token)).status).toBe(403);
    expect((await stats(bff, 'nonsense')).status).toBe(401);
  });
});

describe('GET /metrics', () => {
  it('exposes publishes, deliveries, auth failures, connections and event-loop lag', async () => {
    bff = await startWithLocal();
    await subscribe(bff, 'acme', 'ana', 'private-orders.acme.1');
    await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: {} }, API_KEYS.acme);
    await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: {} }, 'wrong-key-000000000');
    const response = await fetch(`${bff.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/switchboard_publishes_total\{tenant="acme",provider="local",status="delivered"\} 1/);
    expect(text).toMatch(/switchboard_deliveries_total\{tenant="acme",provider="local"\} 1/);
    expect(text).toMatch(/switchboard_auth_failures_total\{route="\/v1\/publish",code="unauthenticated"\} 1/);
    expect(text).toMatch(/switchboard_connections\{tenant="acme",provider="local"\} 1/);
    expect(text).toMatch(/switchboard_publish_to_provider_seconds_count\{provider="local"\} 1/);
    expect(text).toMatch(/switchboard_nodejs_eventloop_lag_seconds/);
  });

  it('requires the scrape token when one is configured', async () => {
    bff = await startBff({ metricsToken: 'scrape-token-0123456789' });
    expect((await fetch(`${bff.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${bff.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const response = await fetch(`${bff.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/switchboard_nodejs_eventloop_lag_seconds/);
  });
});

describe('demo endpoints', () => {
  it('publish chat messages and order steps through the logged pipeline, within the caps', async () => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana', { name: 'Ana' });
    const chat = await bff.post('/v1/demo/chat', { channel: 'chat:lobby', text: ' hello ' }, token);
    expect(chat.status).toBe(200);
    await bff.post('/v1/demo/orders/advance', { order: '1001' }, token);
    await bff.post('/v1/demo/orders/advance', { order: '1001' }, token);

    const history = async (channel: string) =>
      ((await (await fetch(`${bff!.url}/v1/history?channel=${channel}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: { data: unknown }[] }).events.map((event) => event.data);
    expect(await history('chat:lobby')).toEqual([{ text: 'hello', user: 'ana', name: 'Ana' }]);
    expect(await history('orders:1001')).toEqual([
      { order: '1001', status: 'placed', stage: 0 },
      { order: '1001', status: 'packed', stage: 1 },
    ]);
    expect(await history('notifications:ana')).toEqual([{ text: 'Order 1001 is placed' }, { text: 'Order 1001 is packed' }]);

    expect((await bff.post('/v1/demo/chat', { channel: 'orders:1001', text: 'x' }, token)).status).toBe(403);
    expect((await bff.post('/v1/demo/chat', { channel: 'chat:lobby', text: '' }, token)).status).toBe(400);
    expect((await bff.post('/v1/demo/orders/advance', { order: '../x' }, token)).status).toBe(400);
  });

  it('advance an order from its latest status event, whoever published it, skipping events without a known stage', async () => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const advance = async () => ((await (await bff!.post('/v1/demo/orders/advance', { order: '1001' }, token)).json()) as { seq: number }).seq;
    const statusAt = async (seq: number) => {
      const answer = await fetch(`${bff!.url}/v1/history?channel=orders:1001&since=${seq - 1}&limit=1`, { headers: { authorization: `Bearer ${token}` } });
      return ((await answer.json()) as { events: { data: { status?: string } }[] }).events[0]?.data.status;
    };
    const publish = (data: unknown) => bff!.post('/v1/publish', { channel: 'orders:1001', event: 'status', data }, ADMIN_KEY, { 'switchboard-tenant': 'acme' });

    // The README walkthrough's publish, then events the demo cannot follow.
    expect((await publish({ status: 'Shipped' })).status).toBe(200);
    await publish({ status: 'lost in the mail' });
    await publish({ shipped: true });
    await bff.post('/v1/publish', { channel: 'orders:1001', event: 'note', data: { status: 'placed' } }, ADMIN_KEY, { 'switchboard-tenant': 'acme' });
    expect(await statusAt(await advance())).toBe('out for delivery');
    expect(await statusAt(await advance())).toBe('delivered');
    expect(await statusAt(await advance())).toBe('delivered');
    // Another tenant's order of the same id starts from the beginning.
    const globex = await bff.capabilityToken('globex', 'gus');
    const answer = await bff.post('/v1/demo/orders/advance', { order: '1001' }, globex.token);
    expect(await answer.json()).toMatchObject({ seq: 1 });
  });
});
