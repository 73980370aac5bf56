import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromAblyChannel,
  fromPusherChannel,
  fromSupabaseTopic,
  PUSHER_MAX_CHANNEL_LENGTH,
  toAblyChannel,
  toPusherChannel,
  toSupabaseTopic,
} from '../../src/core/provider-names.js';
import { SwitchboardError } from '../../src/core/errors.js';

const chars = (alphabet: string, min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: min, maxLength: max });
const lower = 'abcdefghijklmnopqrstuvwxyz';
const alnum = `${lower}ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`;
const tenantArb = chars(`${alnum}_-`, 1, 64);
const namespaceArb = fc.tuple(chars(lower, 1, 1), chars(`${lower}0123456789_-`, 0, 12)).map(([a, b]) => a + b);
const restArb = chars(`${alnum}_-=@,;:`, 1, 40);
const channelArb = fc.tuple(namespaceArb, restArb).map(([ns, rest]) => `${ns}:${rest}`);
const pairArb = fc.record({ tenant: tenantArb, channel: channelArb, presence: fc.boolean() });

function pusherOrUndefined(tenant: string, channel: string, presence: boolean): string | undefined {
  try {
    return toPusherChannel(tenant, channel, presence);
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchboardError);
    return undefined;
  }
}

describe('Pusher channel names', () => {
  it('maps the documented shape', () => {
    expect(toPusherChannel('acme', 'orders:1001', false)).toBe('private-orders.acme.1001');
    expect(toPusherChannel('acme', 'chat:room:7', true)).toBe('presence-chat.acme.room.7');
  });

  it('round-trips every valid pair that fits', () => {
    fc.assert(
      fc.property(pairArb, ({ tenant, channel, presence }) => {
        const name = pusherOrUndefined(tenant, channel, presence);
        if (name === undefined) return;
        expect(name.length).toBeLessThanOrEqual(PUSHER_MAX_CHANNEL_LENGTH);
        expect(name).toMatch(/^[A-Za-z0-9_\-=@,.;]+$/);
        expect(fromPusherChannel(name)).toEqual({ tenant, channel, presence });
      }),
      { numRuns: 2000 },
    );
  });

  it('is injective', () => {
    fc.assert(
      fc.property(pairArb, pairArb, (a, b) => {
        const nameA = pusherOrUndefined(a.tenant, a.channel, a.presence);
        const nameB = pusherOrUndefined(b.tenant, b.channel, b.presence);
        if (nameA === undefined || nameB === undefined) return;
        if (a.tenant !== b.tenant || a.channel !== b.channel || a.presence !== b.presence) expect(nameA).not.toBe(nameB);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects names over 164 characters', () => {
    expect(() => toPusherChannel('t'.repeat(64), `orders:${'x'.repeat(100)}`, false)).toThrow(/may have at most 91 \(the provider name would be 180 of 164 characters\)/);
  });

  it('does not reverse names Switchboard never makes', () => {
    for (const name of ['orders', 'private-orders', 'private-Orders.acme.1', 'public-orders.acme.1', 'private-orders.acme.', 'presence-chat..x']) {
      expect(fromPusherChannel(name)).toBeUndefined();
    }
  });
});

describe('Ably and Supabase names', () => {
  it('map to namespace:tenant:rest and round-trip', () => {
    expect(toAblyChannel('acme', 'chat:room:7')).toBe('chat:acme:room:7');
    fc.assert(
      fc.property(tenantArb, channelArb, (tenant, channel) => {
        expect(fromAblyChannel(toAblyChannel(tenant, channel))).toEqual({ tenant, channel });
        expect(fromSupabaseTopic(toSupabaseTopic(tenant, channel))).toEqual({ tenant, channel });
      }),
      { numRuns: 1000 },
    );
  });

  it('are injective', () => {
    fc.assert(
      fc.property(tenantArb, channelArb, tenantArb, channelArb, (t1, c1, t2, c2) => {
        if (t1 !== t2 || c1 !== c2) expect(toAblyChannel(t1, c1)).not.toBe(toAblyChannel(t2, c2));
      }),
      { numRuns: 2000 },
    );
  });

  it('reject invalid tenants and channels', () => {
    expect(() => toAblyChannel('ac.me', 'orders:1')).toThrow(SwitchboardError);
    expect(() => toSupabaseTopic('acme', 'orders:1.2')).toThrow(SwitchboardError);
    expect(fromAblyChannel('orders:acme')).toBeUndefined();
  });
});
