import { describe, expect, it } from 'vitest';
import { isAllowed, narrowCapabilities, resolveCapabilities } from '../../src/core/capabilities.js';
import { capabilitiesSchema } from '../../src/core/schemas.js';
import { buildAppConfig, DEFAULT_ROLES } from '../../src/core/config.js';

const member = resolveCapabilities([DEFAULT_ROLES.member!], 'ana');

describe('capabilities', () => {
  it('grants the default member role what the design lists', () => {
    expect(isAllowed(member, 'subscribe', 'orders:1001')).toBe(true);
    expect(isAllowed(member, 'history', 'dashboard:sales')).toBe(true);
    expect(isAllowed(member, 'publish', 'orders:1001')).toBe(false);
    expect(isAllowed(member, 'presence', 'chat:general')).toBe(true);
    expect(isAllowed(member, 'publish', 'chat:general')).toBe(true);
    expect(isAllowed(member, 'subscribe', 'notifications:ana')).toBe(true);
    expect(isAllowed(member, 'subscribe', 'notifications:bob')).toBe(false);
    expect(isAllowed(member, 'subscribe', 'notifications:ana2')).toBe(false);
    expect(isAllowed(member, 'subscribe', 'billing:1')).toBe(false);
  });

  it('matches exact names and prefixes', () => {
    const caps = { 'chat:room-*': ['subscribe' as const], 'orders:7': ['history' as const], '*': ['presence' as const] };
    expect(isAllowed(caps, 'subscribe', 'chat:room-1')).toBe(true);
    expect(isAllowed(caps, 'subscribe', 'chat:lobby')).toBe(false);
    expect(isAllowed(caps, 'history', 'orders:7')).toBe(true);
    expect(isAllowed(caps, 'history', 'orders:70')).toBe(false);
    expect(isAllowed(caps, 'presence', 'anything:x')).toBe(true);
  });

  it('rejects user ids that cannot appear in a channel name', () => {
    expect(() => resolveCapabilities([DEFAULT_ROLES.member!], 'auth0|123')).toThrow(expect.objectContaining({ code: 'invalid_identity' }));
  });

  it('merges several roles', () => {
    const caps = resolveCapabilities([{ 'orders:*': ['subscribe'] }, { 'orders:*': ['history'], 'ops:{user}': ['publish'] }], 'u1');
    expect(caps).toEqual({ 'orders:*': ['subscribe', 'history'], 'ops:u1': ['publish'] });
  });

  it('narrows but never widens', () => {
    const narrowed = narrowCapabilities(member, {
      'orders:1001': ['subscribe', 'publish'],
      'chat:*': ['subscribe'],
      'notifications:bob': ['subscribe'],
      '*': ['subscribe'],
    });
    expect(narrowed).toEqual({ 'orders:1001': ['subscribe'], 'chat:*': ['subscribe'] });
  });

  it('validates patterns', () => {
    expect(capabilitiesSchema.safeParse({ 'orders:*': ['subscribe'] }).success).toBe(true);
    expect(capabilitiesSchema.safeParse({ 'notifications:{user}': ['subscribe'] }).success).toBe(true);
    expect(capabilitiesSchema.safeParse({ 'orders:a.b': ['subscribe'] }).success).toBe(false);
    expect(capabilitiesSchema.safeParse({ 'orders:*': ['delete'] }).success).toBe(false);
    expect(capabilitiesSchema.safeParse({ 'Orders:*': ['subscribe'] }).success).toBe(false);
  });

  it('checks config files against the schema', () => {
    expect(() => buildAppConfig({ namespaces: { orders: { history: { size: 0 } } } })).toThrow();
    expect(() => buildAppConfig({ defaultRoles: ['ghost'] })).toThrow(/unknown role/);
    expect(() => buildAppConfig({ extra: true })).toThrow();
    expect(buildAppConfig({ roles: { viewer: { 'orders:*': ['subscribe'] } }, defaultRoles: ['viewer'] }).defaultRoles).toEqual(['viewer']);
  });
});
