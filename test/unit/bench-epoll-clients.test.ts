/**
 * The scale benchmark's C load generator (bench/load/epoll-clients.c) against a scripted
 * Pusher server on raw TCP: its channel authorizations verify with the server's own check,
 * frames split at any byte, fragmented messages and pings are handled, every delivery is
 * counted, and a connection sending a broken frame is closed without taking the process down.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChannelAuth } from '../../providers/pusher-protocol/channel-auth.js';
import type { Child } from '../../bench/lib/proc.js';
import { buildEpollGenerator, spawnGenerator } from '../../bench/lib/scale-generators.js';
import type { CollectResult, ScaleConnect } from '../../bench/lib/scale-protocol.js';
import { eventually } from '../helpers/eventually.js';
import { requireService, serviceCheck } from '../helpers/services.js';

const APP = { key: 'bench-key', secret: 'a secret longer than sixty-four bytes, so HMAC hashes the key first...' };
const CHANNEL = 'private-dashboard.t1.scale';
const compiler = await serviceCheck('gcc (the C load generator)', async () => {
  const failure = buildEpollGenerator();
  if (failure !== undefined) throw new Error(failure);
});

function frame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = body.length < 126 ? Buffer.from([0, body.length]) : Buffer.from([0, 126, body.length >> 8, body.length & 0xff]);
  head[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([head, body]);
}

const eventFrame = (i: number, padding = 60) =>
  frame(1, JSON.stringify({ event: 'tick', channel: CHANNEL, data: JSON.stringify({ i, bt: Date.now() - 5, p: 'x'.repeat(padding) }) }));

/** Client frames (masked, short) seen by the server on one connection. */
interface Peer {
  socket: Socket;
  socketId: string;
  received: { opcode: number; text: string }[];
  subscribed: boolean;
}

function readClientFrames(peer: Peer, buffered: Buffer): Buffer {
  let rest = buffered;
  while (rest.length >= 6) {
    let length = rest[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      length = rest.readUInt16BE(2);
      offset = 4;
    }
    if (rest.length < offset + 4 + length) break;
    const mask = rest.subarray(offset, offset + 4);
    const payload = Buffer.from(rest.subarray(offset + 4, offset + 4 + length).map((byte, index) => byte ^ mask[index & 3]!));
    peer.received.push({ opcode: rest[0]! & 0x0f, text: payload.toString('utf8') });
    rest = rest.subarray(offset + 4 + length);
  }
  return rest;
}

let server: Server;
let port: number;
const peers: Peer[] = [];
const badAuth: string[] = [];

beforeAll(async () => {
  server = createServer((socket) => {
    socket.setNoDelay(true);
    const peer: Peer = { socket, socketId: '', received: [], subscribed: false };
    let head = '';
    let frames: Buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      if (!head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        peer.socketId = `${peers.length + 1}.${(peers.length + 1) * 7919}`;
        peers.push(peer);
        // The upgrade answer and connection_established in one write, as Switchboard sends them.
        socket.write(
          Buffer.concat([
            Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n'),
            frame(1, JSON.stringify({ event: 'pusher:connection_established', data: JSON.stringify({ socket_id: peer.socketId, activity_timeout: 120 }) })),
          ]),
        );
        return;
      }
      frames = readClientFrames(peer, Buffer.concat([frames, chunk]));
      const subscribe = peer.received.find((message) => message.text.includes('pusher:subscribe'));
      if (subscribe && !peer.subscribed) {
        peer.subscribed = true;
        const { data } = JSON.parse(subscribe.text) as { data: { channel: string; auth: string; channel_data: string } };
        if (!verifyChannelAuth(APP, data.auth, peer.socketId, data.channel, data.channel_data)) badAuth.push(data.auth);
        socket.write(frame(1, JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: data.channel, data: '{}' })));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const peer of peers) peer.socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function collect(generator: Child): Promise<CollectResult> {
  generator.send({ cmd: 'collect' });
  return generator.next<CollectResult>('collected', 5000);
}

/** Collects until `i` has been received `expected` times (the generator reads asynchronously). */
async function received(generator: Child, i: number, expected: number): Promise<{ deliveries: number; latencies: number }> {
  let count = 0;
  let deliveries = 0;
  let latencies = 0;
  await eventually(async () => {
    const result = await collect(generator);
    count += result.events.find((event) => event.i === i)?.received ?? 0;
    deliveries += result.deliveries;
    latencies += result.latencyMs.reduce((a, b) => a + b, 0);
    return count >= expected;
  });
  expect(count).toBe(expected);
  return { deliveries, latencies };
}

async function writeBytewise(socket: Socket, bytes: Buffer): Promise<void> {
  for (const byte of bytes) {
    socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe.skipIf(compiler === 'skip')('C load generator for the scale benchmark', () => {
  it('signs, counts split, fragmented and pinged frames, and survives broken frames', { timeout: 20_000 }, async () => {
    requireService(compiler, 'gcc');
    const generator = spawnGenerator('c', 'epoll generator under test');
    try {
      const connect: ScaleConnect = {
        cmd: 'connect',
        kind: 'pusher',
        baseUrl: `http://127.0.0.1:${port}`,
        localAddress: '127.0.0.7',
        count: 3,
        concurrency: 2,
        appKey: APP.key,
        appSecret: APP.secret,
        channel: CHANNEL,
      };
      generator.send(connect);
      await expect(generator.next('connected', 10_000)).resolves.toMatchObject({ connections: 3 });
      expect(badAuth).toEqual([]);
      expect(peers.map((peer) => peer.socket.remoteAddress)).toEqual(['127.0.0.7', '127.0.0.7', '127.0.0.7']);
      const [a, b, c] = peers as [Peer, Peer, Peer];

      // Event 0: whole; one byte per write; a 16-bit length split inside the header.
      a.socket.write(eventFrame(0));
      await writeBytewise(b.socket, eventFrame(0));
      const long = eventFrame(0, 300);
      c.socket.write(long.subarray(0, 3));
      await new Promise((resolve) => setTimeout(resolve, 20));
      c.socket.write(long.subarray(3));
      expect(await received(generator, 0, 3)).toEqual({ deliveries: 3, latencies: 3 });
      // Event 1: in three fragments with a ping between them.
      const text = eventFrame(1).subarray(2);
      a.socket.write(Buffer.concat([frame(1, text.subarray(0, 20), false), frame(0, text.subarray(20, 50), false), frame(9, 'are you there'), frame(0, text.subarray(50))]));
      await eventually(() => a.received.some((message) => message.opcode === 0xa && message.text === 'are you there'));
      expect(await received(generator, 1, 1)).toEqual({ deliveries: 1, latencies: 1 });

      // Broken frames: a reserved opcode on b, a 64-bit length far beyond any message on c.
      const closed = [once(b.socket, 'close'), once(c.socket, 'close')];
      b.socket.write(Buffer.from([0x83, 0x01, 0x00]));
      c.socket.write(Buffer.from([0x81, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
      await Promise.all(closed);
      a.socket.write(eventFrame(2));
      expect(await received(generator, 2, 1)).toEqual({ deliveries: 1, latencies: 1 });
      expect(generator.process.exitCode).toBeNull();
    } finally {
      await generator.stop(2000);
    }
  });
});
