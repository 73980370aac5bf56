/**
 * The translation of capability-token caps into Ably capabilities, checked against Ably's
 * own resource grammar (the emulator's matcher, written from ably-docs auth/capabilities.mdx,
 * not from the translation): no tenant's capability ever matches another tenant's channel,
 * wildcards included, and the translation never grants more than the caps did.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAllowed, resolveCapabilities, type Capabilities, type Operation } from '../../src/core/capabilities.js';
import { DEFAULT_ROLES } from '../../src/core/config.js';
import { DEFAULT_NAMESPACES, type Namespaces, type NamespaceRules } from '../../src/core/namespaces.js';
import { toAblyChannel } from '../../src/core/provider-names.js';
import { toAblyCapability } from '../../providers/ably/index.js';
import { operationsOn, resourceMatches } from '../fixtures/ably-emulator/index.js';

const chars = (alphabet: string, min: number, max: number) => fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: min, maxLength: max });

/** Namespaces that share prefixes, so `ch*`-style patterns cover several. */
const rules = (presence: boolean, clientEvents: string[]): NamespaceRules => ({ presence, history: false, clientEvents, maxPayloadBytes: 1024 });
const namespaces: Namespaces = { chat: rules(true, ['typing']), chatter: rules(false, []), c: rules(false, ['x']), orders: rules(false, []) };
const namespaceArb = fc.constantFrom('chat', 'chatter', 'c', 'orders');
// Tenants and rests from small alphabets, so near-collisions (`a` vs `a-b`, `1` vs `1:2`) are common.
const tenantArb = chars('ab-_', 1, 4);
const restArb = chars('ab1:-', 1, 6).filter((rest) => !rest.startsWith(':') || rest.length > 1);
const channelArb = fc.tuple(namespaceArb, restArb).map(([namespace, rest]) => `${namespace}:${rest}`);
const opsArb = fc.subarray(['subscribe', 'publish', 'presence', 'history'] as Operation[], { minLength: 1 });
const patternArb = fc.oneof(
  fc.constant('*'),
  chars('chator', 1, 3).map((prefix) => `${prefix}*`),
  namespaceArb.map((namespace) => `${namespace}:*`),
  channelArb,
  channelArb.map((channel) => `${channel}*`),
);
const capsArb = fc.dictionary(patternArb, opsArb, { minKeys: 1, maxKeys: 5 }) as fc.Arbitrary<Capabilities>;

function channelOk(channel: string): boolean {
  return /^[a-z][a-z0-9_-]*:[A-Za-z0-9_\-=@,;:]+$/.test(channel);
}

describe('Ably capability translation', () => {
  it('maps the default roles to tenant-scoped Ably resources', () => {
    const caps = resolveCapabilities([DEFAULT_ROLES.member!], 'ana');
    const capability = toAblyCapability('acme', caps, DEFAULT_NAMESPACES);
    expect(capability['chat:acme:*']).toEqual(['history', 'presence', 'publish', 'subscribe']);
    expect(capability['orders:acme:*']).toEqual(['history', 'subscribe']);
    expect(capability['notifications:acme:ana']).toEqual(['history', 'subscribe']);
    for (const resource of Object.keys(capability)) expect(resource.split(':')[1]).toBe('acme');
  });

  it('drops operations the namespace cannot carry and narrows mid-segment prefixes', () => {
    const capability = toAblyCapability('acme', { 'orders:10*': ['subscribe', 'publish', 'presence'], 'nope:*': ['subscribe'], '*': ['history'] }, namespaces);
    expect(capability).toEqual({
      'c:acme:*': ['history'],
      'chat:acme:*': ['history'],
      'chatter:acme:*': ['history'],
      'orders:acme:*': ['history'],
      'orders:acme:10': ['subscribe'],
      'orders:acme:10:*': ['subscribe'],
    });
  });

  it('knows only configured namespaces, not names inherited from Object.prototype', () => {
    expect(toAblyCapability('acme', { 'constructor:x': ['subscribe'], 'toString:*': ['subscribe'] }, namespaces)).toEqual({});
  });

  it('never matches another tenant\'s channel, wildcards included', () => {
    fc.assert(
      fc.property(tenantArb, tenantArb, capsArb, channelArb, (tenant, other, caps, channel) => {
        fc.pre(tenant !== other && channelOk(channel));
        const foreign = toAblyChannel(other, channel);
        for (const resource of Object.keys(toAblyCapability(tenant, caps, namespaces))) {
          expect(resourceMatches(resource, foreign), `${resource} matches ${foreign}`).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never grants on Ably what the caps do not allow', () => {
    fc.assert(
      fc.property(tenantArb, capsArb, channelArb, (tenant, caps, channel) => {
        fc.pre(channelOk(channel));
        const granted = operationsOn(toAblyCapability(tenant, caps, namespaces), toAblyChannel(tenant, channel));
        for (const op of granted) expect(isAllowed(caps, op as Operation, channel), `${op} on ${channel}`).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps subscribe on every channel a segment-aligned pattern allows', () => {
    const alignedArb = fc.oneof(fc.constant('*'), namespaceArb.map((namespace) => `${namespace}:*`), channelArb);
    fc.assert(
      fc.property(tenantArb, fc.dictionary(alignedArb, opsArb, { minKeys: 1, maxKeys: 4 }), channelArb, (tenant, caps, channel) => {
        fc.pre(channelOk(channel));
        const granted = operationsOn(toAblyCapability(tenant, caps as Capabilities, namespaces), toAblyChannel(tenant, channel));
        expect(granted.has('subscribe')).toBe(isAllowed(caps as Capabilities, 'subscribe', channel));
      }),
      { numRuns: 2000 },
    );
  });
});
