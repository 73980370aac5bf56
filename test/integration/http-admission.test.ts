/**
 * The BFF's HTTP server under half-open requests and at its descriptor cap (issue 18,
 * "Half-open HTTP requests"; issue 22, "Know the descriptor limit"): every request is
 * bounded in time, one address holds a limited number of sockets, and past the cap
 * requests get a clean 503 (WebSockets 4100) while /healthz and /readyz keep answering.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLocalProvider } from '../../providers/local/index.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { createNetwork, type NetworkOptions } from '../../src/server/net/network.js';
import { startBff, type TestBff } from '../helpers/bff.js';
import { grant, onCleanup } from '../helpers/local-harness.js';
import { rawConnect, rawGet, statusOf } from '../helpers/raw-http.js';
import { KEY, RawClient } from '../helpers/raw-pusher-client.js';

async function bffWith(options: NetworkOptions): Promise<TestBff> {
  const network = createNetwork(options);
  const provider = createLocalProvider({
    descriptorCap: network.budget.connectionCap,
    maxConnections: network.budget.connectionCap,
    refusals: network.refusals,
    addressPolicy: network.addressPolicy,
  });
  const bff = await startBff({ provider, network });
  onCleanup(() => bff.close());
  return bff;
}

describe('BFF HTTP server: half-open and slow requests', () => {
  it('answers 408 and closes requests whose headers or body do not arrive in time, while others are served', async () => {
    const bff = await bffWith({ http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000 } });
    const started = Date.now();
    const silent = await rawConnect(bff.port, '127.0.0.2');
    const halfHeaders = await rawConnect(bff.port, '127.0.0.2');
    halfHeaders.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n');
    const slowBody = await rawConnect(bff.port, '127.0.0.2');
    slowBody.socket.write('POST /v1/publish HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    // One byte every 100 ms keeps an idle timeout from ever firing; only a deadline for the whole request ends it.
    const trickle = setInterval(() => slowBody.socket.writable && slowBody.socket.write(' '), 100);
    onCleanup(() => clearInterval(trickle));

    expect((await rawGet(bff.port, '/healthz', '127.0.0.3')).status).toBe(200);
    for (const client of [silent, halfHeaders, slowBody]) {
      const { text, at } = await client.closed;
      expect(statusOf(text)).toBe(408);
      // Bounded: the configured timeouts plus Node's one-second check, with room for a loaded machine.
      expect(at - started).toBeLessThan(8_000);
    }
  });

  it('limits the plain HTTP sockets one address holds; other addresses are served', async () => {
    const bff = await bffWith({ http: { maxSocketsPerAddress: 4 } });
    const held = await Promise.all(Array.from({ length: 4 }, () => rawConnect(bff.port, '127.0.0.4')));
    const fifth = await rawConnect(bff.port, '127.0.0.4');
    const { text } = await fifth.closed;
    expect(text).toBe('');
    expect((await rawGet(bff.port, '/healthz', '127.0.0.5')).status).toBe(200);
    // The held sockets were not touched: they can still send their requests.
    held[0]?.socket.write('GET /readyz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    expect(statusOf((await held[0]!.closed).text)).toBe(200);
    const metrics = await (await fetch(`${bff.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_connections_refused_total\{kind="http",reason="address_limit"\} 1/);
  });

  it('takes WebSockets out of the plain HTTP count once upgraded, and still destroys upgrades nobody serves', async () => {
    const bff = await bffWith({ http: { maxSocketsPerAddress: 2 } });
    for (let i = 0; i < 4; i++) {
      const client = new RawClient(new WebSocket(`ws://127.0.0.1:${bff.port}/app/${KEY}?protocol=7`, { localAddress: '127.0.0.10' }));
      onCleanup(() => client.ws.terminate());
      await client.next('pusher:connection_established');
    }
    const orphan = new WebSocket(`ws://127.0.0.1:${bff.port}/somewhere-else`, { localAddress: '127.0.0.11' });
    const failure = await new Promise<Error>((resolve) => orphan.on('error', resolve));
    expect(failure.message).toMatch(/socket hang up|ECONNRESET/);
  });
});

describe('BFF: the connection cap derived from the open-files limit', () => {
  it('refuses WebSockets past the cap with 4100 and HTTP past the socket cap with 503; /healthz and /readyz keep answering; /metrics reports the limit', async () => {
    // A process allowed 100 descriptors, 64 of them reserved: 36 WebSocket connections, 82 sockets in all.
    const bff = await bffWith({ openFilesLimit: 100, reservedDescriptors: 64 });
    const { budget } = bff.app.switchboard.network;
    expect(budget).toMatchObject({ openFilesLimit: 100, connectionCap: 36, socketCap: 82 });
    const provider = bff.provider as ReturnType<typeof createLocalProvider>;
    const open = async (index: number): Promise<RawClient> => {
      const client = new RawClient(new WebSocket(`ws://127.0.0.1:${bff.port}/app/${KEY}?protocol=7`, { localAddress: `127.0.1.${index % 200}` }));
      onCleanup(() => client.ws.terminate());
      return client;
    };
    for (let i = 0; i < budget.connectionCap; i++) {
      const client = await open(i);
      const established = await client.next('pusher:connection_established');
      client.socketId = (established.data as { socket_id: string }).socket_id;
      const channel = `orders:${i}`;
      const name = toPusherChannel('acme', channel, false);
      const auth = provider.authorizeChannel({ grant: grant('acme', 'u1'), socketId: client.socketId, channel, providerChannel: name, presence: false, clientEvents: [] });
      expect((await client.subscribe(name, auth)).event).toBe('pusher_internal:subscription_succeeded');
    }
    const refused = await open(250);
    expect((await refused.error(4100)).data).toEqual({ code: 4100, message: 'Over capacity: too many connections' });
    expect((await refused.closed).code).toBe(4100);

    // Fill the remaining inbound sockets with idle HTTP connections from many addresses.
    const remaining = (budget.socketCap ?? 0) - budget.connectionCap;
    await Promise.all(Array.from({ length: remaining }, (_, i) => rawConnect(bff.port, `127.0.2.${i % 200}`)));
    const api = await rawGet(bff.port, '/v1/openapi.json', '127.0.3.1');
    expect(api.status).toBe(503);
    expect(api.text).toMatch(/Over capacity/);
    expect((await rawGet(bff.port, '/healthz', '127.0.3.2')).status).toBe(200);
    expect((await rawGet(bff.port, '/readyz', '127.0.3.3')).status).toBe(200);
    const metrics = (await rawGet(bff.port, '/metrics', '127.0.3.4')).text;
    expect(metrics).toMatch(/switchboard_open_files_limit 100/);
    expect(metrics).toMatch(/switchboard_websocket_connection_cap 36/);
    expect(metrics).toMatch(/switchboard_connections_refused_total\{kind="websocket",reason="over_capacity"\} 1/);
    expect(metrics).toMatch(/switchboard_connections_refused_total\{kind="http",reason="over_capacity"\} 1/);

    // Past the hard cap a socket is closed at once, unanswered: the last descriptors stay for Redis, the store and outgoing requests.
    const [guarded] = bff.app.switchboard.network.servers;
    const hard = budget.hardSocketCap ?? 0;
    await Promise.all(Array.from({ length: hard - (guarded?.openSockets() ?? 0) }, (_, i) => rawConnect(bff.port, `127.0.4.${i % 200}`)));
    const beyond = await rawConnect(bff.port, '127.0.5.1');
    beyond.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
    expect((await beyond.closed).text).toBe('');
    expect(guarded?.openSockets()).toBe(hard);
  });
});

describe('BFF mounted in another Express app', () => {
  it('app.attach applies the timeouts and the per-address limit to that server, and serves the WebSockets', async () => {
    const bff = await bffWith({ http: { headersTimeoutMs: 700, requestTimeoutMs: 1_400, maxSocketsPerAddress: 2 } });
    const outer = express();
    outer.use(bff.app);
    const server = createServer(outer);
    bff.app.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    expect({ headers: server.headersTimeout, request: server.requestTimeout }).toEqual({ headers: 700, request: 1_400 });
    await Promise.all([rawConnect(port, '127.0.0.8'), rawConnect(port, '127.0.0.8')]);
    expect((await (await rawConnect(port, '127.0.0.8')).closed).text).toBe('');
    const client = new RawClient(new WebSocket(`ws://127.0.0.1:${port}/app/${KEY}?protocol=7`, { localAddress: '127.0.0.9' }));
    onCleanup(() => client.ws.terminate());
    await client.next('pusher:connection_established');
  });
});
