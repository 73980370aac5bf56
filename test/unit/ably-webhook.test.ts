/**
 * Ably webhook normalization under hostile and reordered input (property tests): whatever
 * Ably (or an attacker holding the key) puts in a batch, good items still produce their
 * events, nothing throws past the signature check, and presence is reported once per user.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AblyChannelTracker } from '../../providers/ably/channel-tracker.js';
import { parseAblyWebhook } from '../../providers/ably/webhook.js';
import type { WebhookEvent } from '../../providers/types.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const key = { keyName: 'app.key', secret: 'webhook-secret' };
const target = { tenant: 'acme', channel: 'chat:room' };

function signed(body: string) {
  return { headers: { 'x-ably-key': 'key', 'x-ably-signature': createHmac('sha256', key.secret).update(body).digest('base64') }, rawBody: Buffer.from(body) };
}

const goodItem = { source: 'channel.presence', data: { channelId: 'chat:acme:room', presence: [{ clientId: 'acme:ana', connectionId: 'c1', action: 2 }] } };

describe('Ably webhook parsing', () => {
  it('keeps the good item\'s event whatever else the batch holds', () => {
    fc.assert(
      fc.property(fc.array(fc.anything({ withObjectString: true, withNullPrototype: true }), { maxLength: 8 }), fc.nat(8), (noise, at) => {
        const items = [...noise];
        items.splice(Math.min(at, items.length), 0, goodItem);
        let body: string;
        try {
          body = JSON.stringify({ items });
        } catch {
          return;
        }
        const events = parseAblyWebhook(key, signed(body), new AblyChannelTracker());
        expect(events).toContainEqual({ kind: 'member_added', ...target, userId: 'ana' });
      }),
      { numRuns: RUNS },
    );
  });

  it('treats __proto__ and other inherited names as plain data', () => {
    const body = '{"items":[{"source":"channel.presence","data":{"channelId":"chat:acme:room","presence":[{"clientId":"acme:__proto__","connectionId":"constructor","action":2}]}}],"__proto__":{"items":[]}}';
    expect(parseAblyWebhook(key, signed(body), new AblyChannelTracker())).toEqual([{ kind: 'member_added', ...target, userId: '__proto__' }]);
  });
});

describe('Ably presence per user', () => {
  it('reports a join when a user\'s first connection enters and a leave when their last one leaves, in any order of tabs', () => {
    const change = fc.record({ user: fc.constantFrom('ana', 'bo'), connection: fc.constantFrom('c1', 'c2', 'c3'), enter: fc.boolean() });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
        const tracker = new AblyChannelTracker();
        const connections = new Map<string, Set<string>>();
        const events: WebhookEvent[] = [];
        const expected: WebhookEvent[] = [];
        for (const { user, connection, enter } of changes) {
          const mine = connections.get(user) ?? new Set<string>();
          if (enter) {
            if (mine.size === 0) expected.push({ kind: 'member_added', ...target, userId: user });
            mine.add(connection);
          } else if (mine.has(connection) || mine.size === 0) {
            // A leave of a connection never seen counts only when the user has none (a restarted BFF keeps no ghost);
            // while other connections remain it is nothing to report.
            mine.delete(connection);
            if (mine.size === 0) expected.push({ kind: 'member_removed', ...target, userId: user });
          }
          connections.set(user, mine);
          events.push(...tracker.presence('chat:acme:room', target, [{ clientId: user, connectionId: connection, action: enter ? 2 : 3 }]));
        }
        expect(events).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('reports occupancy only on the edges between no subscriber and some, ignoring stale reports', () => {
    const tracker = new AblyChannelTracker();
    const report = (subscribers: number, at: number) => tracker.occupancy('chat:acme:room', target, subscribers, at);
    expect(report(0, 1)).toEqual([]);
    expect(report(2, 2)).toEqual([{ kind: 'channel_occupied', ...target }]);
    expect(report(3, 3)).toEqual([]);
    expect(report(0, 1)).toEqual([]);
    expect(report(0, 4)).toEqual([{ kind: 'channel_vacated', ...target }]);
    expect(report(0, 5)).toEqual([]);
  });
});
