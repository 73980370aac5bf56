import { describe, expect, it } from 'vitest';
import { channelNameProblem, parseChannelName } from '../../src/core/channels.js';
import { DEFAULT_NAMESPACES, resolveChannel } from '../../src/core/namespaces.js';

describe('channel grammar', () => {
  it.each(['orders:1001', 'chat:general', 'dashboard:sales=eu,q3;x@y', 'a:b:c:d', 'my_ns-2:x'])('accepts %s', (name) => {
    expect(channelNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['', /empty/],
    ['orders', /namespace:rest/],
    [':x', /namespace:rest/],
    ['Orders:1', /namespace must match/],
    ['1orders:1', /namespace must match/],
    ['orders:', /may only use/],
    ['orders:a.b', /may only use/],
    ['orders:a b', /may only use/],
    ['orders:a/b', /may only use/],
    [`orders:${'x'.repeat(300)}`, /longer than/],
  ])('rejects %j', (name, reason) => {
    expect(channelNameProblem(name)).toMatch(reason);
    expect(() => parseChannelName(name)).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
  });

  it('splits namespace and rest at the first colon', () => {
    expect(parseChannelName('chat:room:7')).toEqual({ name: 'chat:room:7', namespace: 'chat', rest: 'room:7' });
  });

  it('resolves namespace rules and rejects unknown namespaces', () => {
    expect(resolveChannel(DEFAULT_NAMESPACES, 'chat:general').rules).toMatchObject({ presence: true, clientEvents: ['typing'] });
    expect(() => resolveChannel(DEFAULT_NAMESPACES, 'billing:1')).toThrow(expect.objectContaining({ code: 'unknown_namespace' }));
  });

  it('ships the documented default namespaces', () => {
    expect(DEFAULT_NAMESPACES).toMatchObject({
      orders: { presence: false, history: { size: 100 } },
      chat: { presence: true, clientEvents: ['typing'], history: { size: 50 } },
      notifications: { history: { size: 100 } },
      dashboard: { history: { size: 20 } },
    });
  });
});
