/**
 * Admission on the embedded server (issue 18, "WebSocket flood"): a deadline to subscribe
 * or sign in, a share of the cap for connections that have not, and per-address limits on
 * open connections and on how fast they are opened. Distinct clients are simulated with
 * 127.0.0.x source addresses (loopback accepts all of 127.0.0.0/8).
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { LocalProvider } from '../../providers/local/index.js';
import { grant, onCleanup, startLocal } from '../helpers/local-harness.js';
import { KEY, RawClient } from '../helpers/raw-pusher-client.js';

async function openFrom(port: number, localAddress: string, headers: Record<string, string> = {}): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${KEY}?protocol=7`, { localAddress, headers, perMessageDeflate: false });
  const client = new RawClient(ws);
  onCleanup(() => ws.terminate());
  return client;
}

/** Connected (socket id known), or refused: then the pusher:error and close code. */
async function attempt(client: RawClient): Promise<{ refused?: { code: number; message: string; closeCode: number } }> {
  const first = await Promise.race([client.next('pusher:connection_established'), client.next('pusher:error')]);
  if (first.event === 'pusher:connection_established') {
    client.socketId = (first.data as { socket_id: string }).socket_id;
    return {};
  }
  const { code, message } = first.data as { code: number; message: string };
  return { refused: { code, message, closeCode: (await client.closed).code } };
}

/** `issuedAt` makes the server check revocation first: the subscription then completes after its frame was handled. */
async function subscribe(provider: LocalProvider, client: RawClient, channel: string, issuedAt?: number): Promise<void> {
  const name = toPusherChannel('acme', channel, false);
  const signedFor = { ...grant('acme', 'u1'), ...(issuedAt === undefined ? {} : { issuedAt }) };
  const auth = provider.authorizeChannel({ grant: signedFor, socketId: client.socketId, channel, providerChannel: name, presence: false, clientEvents: [] });
  expect((await client.subscribe(name, auth)).event).toBe('pusher_internal:subscription_succeeded');
}

describe('local provider: sign-in deadline', () => {
  it('closes a connection that neither subscribes nor signs in with pusher:error 4009, even when it answers pings; subscribed and signed-in ones stay', async () => {
    const { port, provider } = await startLocal({ authTimeoutSeconds: 0.5 });
    const subscriber = await openFrom(port, '127.0.0.1');
    await attempt(subscriber);
    await subscribe(provider, subscriber, 'orders:1');
    // Subscribed and unsubscribed again: it proved itself once, that is enough.
    subscriber.send({ event: 'pusher:unsubscribe', data: { channel: toPusherChannel('acme', 'orders:1', false) } });

    const signedIn = await openFrom(port, '127.0.0.1');
    await attempt(signedIn);
    const user = provider.authenticateUser({ grant: grant('acme', 'ana'), socketId: signedIn.socketId });
    signedIn.send({ event: 'pusher:signin', data: user });
    await signedIn.next('pusher:signin_success');

    const idle = await openFrom(port, '127.0.0.1');
    await attempt(idle);
    const pinging = setInterval(() => idle.send({ event: 'pusher:ping', data: {} }), 100);
    onCleanup(() => clearInterval(pinging));
    const error = await idle.error(4009);
    expect(error.data).toEqual({ code: 4009, message: 'Connection not authorized within timeout' });
    expect((await idle.closed).code).toBe(4009);
    expect(idle.frames.some((frame) => frame.event === 'pusher:pong')).toBe(true);

    // Well past the deadline for the two that authenticated (they connected before the idle one).
    const afterIdle = Date.now();
    while (Date.now() - afterIdle < 600) {
      subscriber.send({ event: 'pusher:ping', data: {} });
      await subscriber.next('pusher:pong');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(subscriber.ws.readyState).toBe(WebSocket.OPEN);
    expect(signedIn.ws.readyState).toBe(WebSocket.OPEN);
    expect(provider.serverStats().connections).toBe(2);
  });
});

describe('local provider: the cap is out of reach of anonymous sockets', () => {
  it('refuses new connections with 4100 once the unauthenticated share is full; subscribing frees it, and only authenticated connections reach the cap', async () => {
    const { port, provider } = await startLocal({ maxConnections: 5, maxUnauthenticatedConnections: 2 });
    const first = await openFrom(port, '127.0.0.1');
    expect(await attempt(first)).toEqual({});
    const second = await openFrom(port, '127.0.0.1');
    expect(await attempt(second)).toEqual({});
    const third = await attempt(await openFrom(port, '127.0.0.1'));
    expect(third.refused).toMatchObject({ code: 4100, closeCode: 4100, message: expect.stringContaining('waiting to subscribe or sign in') });

    await subscribe(provider, first, 'orders:1');
    await subscribe(provider, second, 'orders:2');
    for (let i = 0; i < 3; i++) {
      const client = await openFrom(port, '127.0.0.1');
      expect(await attempt(client)).toEqual({});
      await subscribe(provider, client, `orders:${i + 3}`);
    }
    const over = await attempt(await openFrom(port, '127.0.0.1'));
    expect(over.refused).toMatchObject({ code: 4100, closeCode: 4100, message: 'Over capacity: too many connections' });
  });

  it('frees the share as soon as a subscription completes, also one that completed after its frame (revocation checked first)', async () => {
    const { port, provider } = await startLocal({ maxConnections: 10, maxUnauthenticatedConnections: 2 });
    provider.useRevocations(() => new Promise((resolve) => setTimeout(() => resolve(false), 20)));
    for (let i = 0; i < 6; i++) {
      const client = await openFrom(port, '127.0.0.1');
      expect(await attempt(client)).toEqual({});
      await subscribe(provider, client, `orders:${i}`, Date.now() * 1000);
    }
  });
});

describe('local provider: per-address limits', () => {
  it('limits open connections per address with 4100; other addresses still connect, and a closed slot is free again', async () => {
    const { port } = await startLocal({ maxConnectionsPerAddress: 3 });
    const held: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const client = await openFrom(port, '127.0.0.2');
      expect(await attempt(client)).toEqual({});
      held.push(client);
    }
    const fourth = await attempt(await openFrom(port, '127.0.0.2'));
    expect(fourth.refused).toMatchObject({ code: 4100, closeCode: 4100, message: expect.stringContaining('from this address') });
    expect(await attempt(await openFrom(port, '127.0.0.3'))).toEqual({});

    held[0]?.ws.close();
    await held[0]?.closed;
    for (;;) {
      const again = await attempt(await openFrom(port, '127.0.0.2'));
      if (!again.refused) break;
      // The server may not have seen the close yet.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('limits how fast one address opens connections (a burst, then a rate); other addresses are unaffected', async () => {
    const { port } = await startLocal({ connectionBurstPerAddress: 3, connectionRatePerAddress: 1 });
    for (let i = 0; i < 3; i++) {
      const client = await openFrom(port, '127.0.0.4');
      expect(await attempt(client)).toEqual({});
      client.ws.close();
    }
    const tooFast = await attempt(await openFrom(port, '127.0.0.4'));
    expect(tooFast.refused).toMatchObject({ code: 4100, closeCode: 4100, message: expect.stringContaining('too fast') });
    expect(await attempt(await openFrom(port, '127.0.0.5'))).toEqual({});
  });

  it('counts the X-Forwarded-For client only behind a trusted proxy; elsewhere the header changes nothing', async () => {
    const { port } = await startLocal({ maxConnectionsPerAddress: 1, addressPolicy: { trustedProxies: ['127.0.0.6'], ipv6PrefixLength: 64 } });
    const viaProxy = (client: string) => openFrom(port, '127.0.0.6', { 'x-forwarded-for': client });
    expect(await attempt(await viaProxy('198.51.100.1'))).toEqual({});
    expect((await attempt(await viaProxy('198.51.100.1'))).refused?.code).toBe(4100);
    expect(await attempt(await viaProxy('198.51.100.2'))).toEqual({});

    const spoofing = (client: string) => openFrom(port, '127.0.0.7', { 'x-forwarded-for': client });
    expect(await attempt(await spoofing('198.51.100.3'))).toEqual({});
    expect((await attempt(await spoofing('198.51.100.4'))).refused?.code).toBe(4100);
  });
});
