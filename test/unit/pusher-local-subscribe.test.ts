/**
 * The local server's subscribe and sign-in handling against classes of hostile input:
 * whatever a client sends in a `pusher:subscribe` naming a channel, the answer on that
 * channel is exactly one `subscription_succeeded` or `pusher:subscription_error`, and
 * nothing crashes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../providers/local/connection.js';
import { Hub } from '../../providers/local/hub.js';
import { DEFAULT_LOCAL_OPTIONS } from '../../providers/local/options.js';
import { RateLimiter } from '../../providers/local/outbox.js';
import { handleClientFrame, type ProtocolContext } from '../../providers/local/protocol-handler.js';
import { signChannel, signUser } from '../../providers/pusher-protocol/index.js';

interface Sent {
  event: string;
  channel?: string;
  data?: unknown;
}

/** Just what the protocol handler touches of a connection; frames are decoded as the client would see them. */
function fakeConnection(socketId = '1.2'): { connection: Connection; sent: Sent[] } {
  const sent: Sent[] = [];
  const connection = {
    socketId,
    userId: undefined as string | undefined,
    open: true,
    subscriptions: new Map(),
    clientEvents: new RateLimiter(10, Date.now()),
    enqueue(raw: Buffer) {
      const text = raw.subarray(raw[1] === 126 ? 4 : raw[1] === 127 ? 10 : 2).toString('utf8');
      const frame = JSON.parse(text) as Sent;
      if (typeof frame.data === 'string') frame.data = JSON.parse(frame.data) as unknown;
      sent.push(frame);
    },
  };
  return { connection: connection as unknown as Connection, sent };
}

const options = DEFAULT_LOCAL_OPTIONS;
const credentials = { key: options.key, secret: options.secret };

function context(): ProtocolContext {
  return {
    options,
    hub: new Hub({ maxChannelsPerConnection: 100, presenceMaxMembers: 100 }),
    signIn: (connection, userId) => {
      connection.userId = userId;
    },
    subscribed: () => undefined,
  };
}

const hostile = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.constant('{"__proto__":{"user_id":"x"}}'),
  fc.constant('{"user_id":"a","user_info":{"__proto__":{"polluted":true}}}'),
  fc.jsonValue({ maxDepth: 3 }),
);
const channels = fc.oneof(
  fc.constantFrom('private-a', 'presence-a', 'private-cache-a', 'public', '#server-to-user-x', `private-${'a'.repeat(160)}`),
  fc.string({ minLength: 1, maxLength: 30 }),
);

describe('local server: pusher:subscribe under hostile input', () => {
  it('answers every subscribe naming a channel with exactly one success or subscription_error on it', () => {
    fc.assert(
      fc.property(channels, hostile, hostile, fc.boolean(), (channel, auth, channelData, asString) => {
        const ctx = context();
        const { connection, sent } = fakeConnection();
        const data = { channel, auth, channel_data: channelData };
        handleClientFrame(ctx, connection, JSON.stringify({ event: 'pusher:subscribe', data: asString ? JSON.stringify(data) : data }), Date.now());
        const answers = sent.filter(
          (frame) => frame.channel === channel && (frame.event === 'pusher_internal:subscription_succeeded' || frame.event === 'pusher:subscription_error'),
        );
        expect(answers).toHaveLength(1);
        expect(sent.filter((frame) => frame.event === 'pusher:error' && frame.channel === undefined)).toEqual([]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('accepts a genuine signature with channel_data null, absent or a signed string', () => {
    const ctx = context();
    const { connection, sent } = fakeConnection();
    const plain = signChannel(credentials, '1.2', 'private-a');
    for (const channelData of [null, undefined]) {
      handleClientFrame(ctx, connection, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: plain.auth, channel_data: channelData } }), 0);
    }
    const presence = signChannel(credentials, '1.2', 'presence-a', '{"user_id":"u"}');
    handleClientFrame(ctx, connection, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-a', ...presence } }), 0);
    expect(sent.map((frame) => frame.event)).toEqual(Array(3).fill('pusher_internal:subscription_succeeded'));
  });
});

describe('local server: pusher:signin under hostile input', () => {
  it('signs in only with a genuine signature over user_data with a string id', () => {
    fc.assert(
      fc.property(hostile, hostile, (auth, userData) => {
        const { connection, sent } = fakeConnection();
        handleClientFrame(context(), connection, JSON.stringify({ event: 'pusher:signin', data: { auth, user_data: userData } }), 0);
        expect(sent).toEqual([{ event: 'pusher:error', data: { code: 4009, message: expect.any(String) } }]);
        expect(connection.userId).toBeUndefined();
      }),
      { numRuns: 200 },
    );
    for (const userData of ['{"id":42}', '{"id":""}', '{"id":"has space"}', '[]', 'null']) {
      const { connection, sent } = fakeConnection();
      handleClientFrame(context(), connection, JSON.stringify({ event: 'pusher:signin', data: signUser(credentials, '1.2', userData) }), 0);
      expect(sent[0]).toMatchObject({ event: 'pusher:error', data: { code: 4009 } });
      expect(connection.userId).toBeUndefined();
    }
    const { connection, sent } = fakeConnection();
    handleClientFrame(context(), connection, JSON.stringify({ event: 'pusher:signin', data: signUser(credentials, '1.2', '{"id":"acme:ana"}') }), 0);
    expect(sent).toEqual([{ event: 'pusher:signin_success', data: { user_data: '{"id":"acme:ana"}' } }]);
    expect(connection.userId).toBe('acme:ana');
  });
});

describe('local server: cache subscriptions', () => {
  it('joins after the log lookup, replaying the last event first, unless unsubscribed meanwhile', async () => {
    const lookups: ((event: { event: string; data: string } | undefined) => void)[] = [];
    const ctx: ProtocolContext = { ...context(), lastEvent: () => new Promise((resolve) => lookups.push(resolve)) };
    const { connection, sent } = fakeConnection();
    const channelData = JSON.stringify({ user_id: 'u', sb: { ce: [], c: 1 } });
    const subscribe = () =>
      handleClientFrame(ctx, connection, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-a', ...signChannel(credentials, '1.2', 'private-a', channelData) } }), 0);

    subscribe();
    handleClientFrame(ctx, connection, JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: 'private-a' } }), 0);
    lookups.shift()?.({ event: 'late', data: '{}' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([]);
    expect(connection.subscriptions.size).toBe(0);

    subscribe();
    lookups.shift()?.({ event: 'state', data: '{"n":1}' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent.map((frame) => frame.event)).toEqual(['pusher_internal:subscription_succeeded', 'state']);
    expect(sent[1]).toEqual({ event: 'state', channel: 'private-a', data: { n: 1 } });
  });
});
