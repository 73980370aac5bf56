/**
 * The local server's per-tenant connection counts (reported to the other nodes and shown
 * as tenant statistics) are kept as subscriptions come and go. Whatever the sequence of
 * subscribes, re-subscribes, unsubscribes, expiries and disconnects, they equal the count
 * of connections holding at least one channel of the tenant.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { Hub, type Peer, type Subscription } from '../../providers/local/hub.js';

const CHANNELS = [
  toPusherChannel('acme', 'orders:1', false),
  toPusherChannel('acme', 'orders:2', false),
  toPusherChannel('acme', 'chat:lobby', true),
  toPusherChannel('globex', 'orders:1', false),
  'private-not-switchboard', // a channel Switchboard did not name counts for no tenant
];

function peer(index: number): Peer {
  return { socketId: `1.${index}`, subscriptions: new Map<string, Subscription>(), userId: undefined, enqueue: () => undefined };
}

const operation = fc.oneof(
  fc.record({ kind: fc.constant('subscribe' as const), peer: fc.nat(3), channel: fc.nat(CHANNELS.length - 1), user: fc.constantFrom('ana', 'bo') }),
  fc.record({ kind: fc.constant('unsubscribe' as const), peer: fc.nat(3), channel: fc.nat(CHANNELS.length - 1) }),
  fc.record({ kind: fc.constant('disconnect' as const), peer: fc.nat(3) }),
);

function expected(peers: Peer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const tenant of ['acme', 'globex']) {
    const holding = peers.filter((p) => [...p.subscriptions.keys()].some((name) => name.includes(`.${tenant}.`))).length;
    if (holding > 0) counts.set(tenant, holding);
  }
  return counts;
}

describe('local hub: connections per tenant', () => {
  it('equal the connections holding at least one of the tenant\'s channels after any sequence of changes (property)', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const hub = new Hub({ maxChannelsPerConnection: 100, presenceMaxMembers: 100 });
        const peers = [0, 1, 2, 3].map(peer);
        for (const op of operations) {
          const target = peers[op.peer]!;
          if (op.kind === 'subscribe') {
            // Another user on the same channel replaces the subscription (unsubscribe, then subscribe).
            hub.subscribe(target, CHANNELS[op.channel]!, { userId: op.user, userInfo: undefined, clientEvents: new Set() });
          } else if (op.kind === 'unsubscribe') {
            hub.unsubscribe(target, CHANNELS[op.channel]!);
          } else {
            hub.removePeer(target);
          }
          expect(new Map(hub.localTenantConnections())).toEqual(expected(peers));
          for (const tenant of ['acme', 'globex']) expect(hub.localConnectionsOf(tenant)).toBe(expected(peers).get(tenant) ?? 0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
