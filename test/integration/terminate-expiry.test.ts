/**
 * Issue 18, "Terminate and expiry must hold" and "Pusher protocol leftovers", on one node:
 * a terminated user keeps nothing open (sockets without subscriptions, SSE, long polls),
 * live subscriptions end with the token they were authorized under unless renewed, user
 * events reach signed-in sockets that never subscribed to `#server-to-user-…`, and a clean
 * close frees a connection's subscriptions before TCP is down.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAppConfig } from '../../src/core/config.js';
import { connect } from '../../src/client/index.js';
import { createLocalProvider } from '../../providers/local/index.js';
import { eventually } from '../helpers/eventually.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { KEY, RawClient, type Frame } from '../helpers/raw-pusher-client.js';

const config = buildAppConfig({
  namespaces: { orders: { history: { size: 10 } }, chat: { presence: true } },
  roles: { member: { 'orders:*': ['subscribe', 'history'], 'chat:*': ['subscribe', 'presence'] } },
});

const started: TestBff[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((bff) => bff.close()));
});

async function bffWith(options: { tokenTtlSeconds?: number } = {}): Promise<TestBff> {
  const bff = await startBff({ provider: createLocalProvider(), config, ...options });
  started.push(bff);
  return bff;
}

async function channelAuth(bff: TestBff, token: string, socketId: string, channel: string): Promise<{ auth: string; channel_data?: string }> {
  const response = await bff.post('/v1/auth/pusher', { socket_id: socketId, channel_name: channel }, token);
  expect(response.status).toBe(200);
  return (await response.json()) as { auth: string; channel_data?: string };
}

async function signIn(bff: TestBff, raw: RawClient, token: string): Promise<Frame> {
  const response = await bff.post('/v1/auth/pusher/user', { socket_id: raw.socketId }, token);
  raw.send({ event: 'pusher:signin', data: await response.json() });
  return raw.next('pusher:signin_success');
}

function terminate(bff: TestBff, user: string): Promise<Response> {
  return bff.post(`/v1/users/${user}/terminate`, {}, API_KEYS.acme);
}

/** Every frame event up to the close, in order, and the close code. */
async function untilClosed(raw: RawClient): Promise<{ events: string[]; code: number }> {
  const { code } = await raw.closed;
  return { events: raw.frames.map((frame) => frame.event), code };
}

describe('terminate', () => {
  it('closes a socket that holds authorizations but no subscription, with pusher:error 4009 first', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const raw = await RawClient.connected(bff.port);
    // Fetched ahead, to subscribe later: the socket has no subscription when the terminate comes.
    await channelAuth(bff, token, raw.socketId, 'private-orders.acme.1');
    await channelAuth(bff, token, raw.socketId, 'presence-chat.acme.lobby');
    const bo = await RawClient.connected(bff.port);
    await channelAuth(bff, (await bff.capabilityToken('acme', 'bo')).token, bo.socketId, 'private-orders.acme.1');

    expect((await terminate(bff, 'ana')).status).toBe(200);
    const closing = await untilClosed(raw);
    expect(closing.code).toBe(4009);
    expect(closing.events.at(-1)).toBe('pusher:error');
    expect(raw.ws.readyState).toBe(raw.ws.CLOSED);
    expect(bo.ws.readyState).toBe(bo.ws.OPEN);
  });

  it('closes a signed-in socket with pusher:error 4009 then code 4009', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const raw = await RawClient.connected(bff.port);
    await signIn(bff, raw, token);
    const error = raw.error(4009);
    await terminate(bff, 'ana');
    expect((await error).data).toMatchObject({ code: 4009, message: expect.stringContaining('terminated') });
    expect((await raw.closed).code).toBe(4009);
  });

  it('ends the user\'s SSE stream at once (not at the next heartbeat) and refuses it afterwards', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const other = await bff.capabilityToken('acme', 'bo');
    const stream = await fetch(`${bff.url}/v1/stream?channels=orders:1`, { headers: { authorization: `Bearer ${token}` } });
    const boStream = await fetch(`${bff.url}/v1/stream?channels=orders:1`, { headers: { authorization: `Bearer ${other.token}` } });
    expect(stream.status).toBe(200);
    const text = stream.text();
    const startedAt = Date.now();
    await terminate(bff, 'ana');
    expect(await text).toContain(': token no longer valid');
    // The default heartbeat is 15 s: ending within a few seconds means the terminate ended it.
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    const publish = await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { after: true } }, API_KEYS.acme);
    expect(publish.ok).toBe(true);
    const reader = boStream.body?.getReader();
    let seen = '';
    while (!seen.includes('"after":true')) seen += new TextDecoder().decode((await reader?.read())?.value);
    await reader?.cancel();
    expect((await fetch(`${bff.url}/v1/stream?channels=orders:1`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('answers a waiting long poll with 401 at once', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const first = (await (await fetch(`${bff.url}/v1/poll?channels=orders:1`, { headers: { authorization: `Bearer ${token}` } })).json()) as { cursor: string };
    const waiting = fetch(`${bff.url}/v1/poll?channels=orders:1&cursor=${encodeURIComponent(first.cursor)}`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const startedAt = Date.now();
    await terminate(bff, 'ana');
    const answer = await waiting;
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ code: 'unauthenticated', detail: expect.stringContaining('revoked') });
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  it('accepts a token minted right after the terminate, in the same second', async () => {
    const bff = await bffWith();
    await terminate(bff, 'ana');
    const { token } = await bff.capabilityToken('acme', 'ana');
    const raw = await RawClient.connected(bff.port);
    const answer = await raw.subscribe('private-orders.acme.1', await channelAuth(bff, token, raw.socketId, 'private-orders.acme.1'));
    expect(answer.event).toBe('pusher_internal:subscription_succeeded');
  });
});

describe('expiry', () => {
  it('ends a live subscription when its authorization expires, with a subscription_error on the channel', async () => {
    const bff = await bffWith({ tokenTtlSeconds: 3 });
    const { token, expiresAt } = await bff.capabilityToken('acme', 'ana');
    const raw = await RawClient.connected(bff.port);
    expect((await raw.subscribe('private-orders.acme.1', await channelAuth(bff, token, raw.socketId, 'private-orders.acme.1'))).event).toBe(
      'pusher_internal:subscription_succeeded',
    );
    const ended = await raw.next('pusher:subscription_error', (frame) => frame.channel === 'private-orders.acme.1');
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(ended.data).toMatchObject({ type: 'AuthError', status: 401, error: expect.stringContaining('expired') });
    await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { late: true } }, API_KEYS.acme);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(raw.frames.filter((frame) => frame.event === 'status')).toEqual([]);
  });

  it('keeps a subscription renewed with a newer authorization before expiry', async () => {
    const bff = await bffWith({ tokenTtlSeconds: 4 });
    const raw = await RawClient.connected(bff.port);
    const first = await bff.capabilityToken('acme', 'ana');
    await raw.subscribe('private-orders.acme.1', await channelAuth(bff, first.token, raw.socketId, 'private-orders.acme.1'));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, first.expiresAt - Date.now() - 2000)));
    const renewed = await bff.capabilityToken('acme', 'ana');
    raw.send({ event: 'pusher:subscribe', data: { channel: 'private-orders.acme.1', ...(await channelAuth(bff, renewed.token, raw.socketId, 'private-orders.acme.1')) } });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, first.expiresAt - Date.now() + 600)));
    await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { still: true } }, API_KEYS.acme);
    expect((await raw.next('status')).data).toMatchObject({ data: { still: true } });
    expect(raw.frames.filter((frame) => frame.event === 'pusher:subscription_error')).toEqual([]);
  });

  it('ends an SSE stream and a waiting long poll when the token expires', async () => {
    const bff = await bffWith({ tokenTtlSeconds: 2 });
    const { token, expiresAt } = await bff.capabilityToken('acme', 'ana');
    const stream = await fetch(`${bff.url}/v1/stream?channels=orders:1`, { headers: { authorization: `Bearer ${token}` } });
    const first = (await (await fetch(`${bff.url}/v1/poll?channels=orders:1`, { headers: { authorization: `Bearer ${token}` } })).json()) as { cursor: string };
    const poll = await fetch(`${bff.url}/v1/poll?channels=orders:1&cursor=${encodeURIComponent(first.cursor)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(poll.status).toBe(401);
    expect(await poll.json()).toMatchObject({ code: 'token_expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);
    expect(await stream.text()).toContain(': token expired');
  });

  it('the client wrapper renews in time: events keep flowing across several token lifetimes', async () => {
    const bff = await bffWith({ tokenTtlSeconds: 3 });
    const session = await bff.devSession('acme', 'ana');
    const rt = connect({ url: bff.url, session });
    try {
      const seen: number[] = [];
      rt.channel('orders:1').subscribe('status', (data) => seen.push((data as { n: number }).n));
      await rt.ready();
      await eventually(async () => (await fetch(`${bff.url}/v1/channels/orders:1/occupancy`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } }).then((r) => r.json() as Promise<{ subscribers: number }>)).subscribers === 1);
      const end = Date.now() + 6_500;
      const failures: unknown[] = [];
      rt.connection.on('change', (state, error) => state !== 'connected' && failures.push([state, error?.message]));
      for (let n = 1; Date.now() < end; n++) {
        await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { n } }, API_KEYS.acme);
        await eventually(() => seen.includes(n), 3000);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(failures).toEqual([]);
      // Delivered live, not recovered from history after a lost subscription.
      const occupancy = await fetch(`${bff.url}/v1/channels/orders:1/occupancy`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } });
      expect(await occupancy.json()).toMatchObject({ subscribers: 1 });
    } finally {
      rt.close();
    }
  });
});

describe('Pusher protocol leftovers', () => {
  it('delivers user events to a signed-in socket that never subscribed to #server-to-user-…', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const raw = await RawClient.connected(bff.port);
    await signIn(bff, raw, token);
    const response = await bff.post('/v1/users/ana/events', { event: 'invoice', data: { total: 3 } }, API_KEYS.acme);
    expect(response.status).toBe(200);
    const event = await raw.next('invoice');
    expect(event).toMatchObject({ channel: '#server-to-user-acme:ana', data: { total: 3 } });
  });

  it('frees a connection\'s subscriptions when its close frame arrives, before the TCP socket closes', async () => {
    const bff = await bffWith();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const peer = await HalfOpenPeer.open(bff.port);
    const auth = await channelAuth(bff, token, peer.socketId, 'presence-chat.acme.lobby');
    peer.send({ event: 'pusher:subscribe', data: { channel: 'presence-chat.acme.lobby', ...auth } });
    const occupancy = async () =>
      ((await (await fetch(`${bff.url}/v1/channels/chat:lobby/occupancy`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } })).json()) as { subscribers: number })
        .subscribers;
    await eventually(async () => (await occupancy()) === 1);
    peer.sendClose();
    // ws waits up to 30 s for the peer's TCP close; the members must not.
    await eventually(async () => (await occupancy()) === 0, 3000);
    expect(peer.socket.destroyed).toBe(false);
    peer.socket.destroy();
  });
});

/** A WebSocket peer on a raw TCP socket that sends a close frame but never closes its TCP side. */
class HalfOpenPeer {
  socketId = '';
  private buffer = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {}

  static async open(port: number): Promise<HalfOpenPeer> {
    const socket = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const peer = new HalfOpenPeer(socket);
    socket.on('error', () => undefined);
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET /app/${KEY}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        peer.buffer = Buffer.concat([peer.buffer, chunk]);
        if (!peer.socketId) {
          const text = peer.buffer.toString('latin1');
          const headerEnd = text.indexOf('\r\n\r\n');
          const match = /socket_id\\":\\"(\d+\.\d+)/.exec(text);
          if (headerEnd >= 0 && match?.[1]) {
            peer.socketId = match[1];
            resolve();
          }
        }
      });
    });
    return peer;
  }

  send(frame: Record<string, unknown>): void {
    this.write(0x1, Buffer.from(JSON.stringify(frame)));
  }

  sendClose(): void {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(1000);
    this.write(0x8, payload);
  }

  private write(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const header = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
    const masked = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] ?? 0)));
    this.socket.write(Buffer.concat([header, mask, masked]));
  }
}
