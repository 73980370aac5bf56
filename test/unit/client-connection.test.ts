import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { tokenResponseSchema } from '../../src/client/schemas.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { startBff } from '../helpers/bff.js';
import { waitFor } from '../conformance/suite.js';
import { createFakeTransport } from '../conformance/fake-transport.js';

const answer = {
  token: 't',
  expiresAt: Date.now() + 3_600_000,
  tenant: 'acme',
  user: 'alice',
  caps: { 'orders:*': ['subscribe', 'history'] },
  provider: { name: 'local' },
  namespaces: { orders: { presence: false, history: { size: 10 }, clientEvents: [], maxPayloadBytes: 1024 } },
};

function fakeBff(status = 200): typeof fetch {
  return async (input) => {
    const url = String(input);
    if (url.includes('/v1/history')) return Response.json({ channel: 'orders:1', events: [], lastSeq: 0 });
    if (status !== 200) return Response.json({ code: 'unauthenticated', detail: 'bad session' }, { status });
    return Response.json(answer);
  };
}

describe('client connection', () => {
  it('parses the real /v1/token answer with the client schema', async () => {
    const bff = await startBff();
    try {
      const token = await bff.capabilityToken('acme', 'alice', { name: 'Ana' });
      expect(tokenResponseSchema.safeParse(token).success).toBe(true);
    } finally {
      await bff.close();
    }
  });

  it('reconnects with backoff after a drop and resubscribes, without losing the channel', async () => {
    const { factory, transports } = createFakeTransport();
    const rt = connect({ url: 'http://bff', session: 's', fetch: fakeBff(), transports: { local: factory }, reconnect: { baseMs: 10, maxMs: 20 } });
    const states: string[] = [];
    rt.connection.on('change', (state) => states.push(state));
    const orders = rt.channel('orders:1');
    let subscribed = 0;
    orders.on('subscribed', () => subscribed++);
    await waitFor(() => subscribed === 1, 'first subscribe');
    const transport = transports[0];
    transport?.failNext.push(new SwitchboardError('provider_unavailable', 'still down'));
    transport?.drop();
    await waitFor(() => subscribed === 2, 'resubscribe');
    expect(states).toEqual(['connected', 'reconnecting', 'reconnecting', 'connected']);
    expect(transport?.connects).toBe(3);
    expect(transports).toHaveLength(1);
    rt.close();
    expect(rt.connection.state).toBe('disconnected');
  });

  it('fails for good when the session is rejected, and when the provider refuses the client', async () => {
    const rejected = connect({ url: 'http://bff', session: () => 's', fetch: fakeBff(401) });
    await expect(rejected.ready()).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(rejected.connection.state).toBe('failed');

    const { factory, transports } = createFakeTransport();
    const refused = connect({ url: 'http://bff', session: 's', fetch: fakeBff(), transports: { local: factory } });
    await refused.ready();
    transports[0]?.drop(new SwitchboardError('forbidden', 'app disabled'));
    await waitFor(() => refused.connection.state === 'failed', 'failed state');
    expect(refused.connection.error?.code).toBe('forbidden');
  });

  it('queues whispers until subscribed and checks them synchronously once the token is known', async () => {
    const { factory, transports } = createFakeTransport();
    const chatAnswer = {
      ...answer,
      caps: { 'chat:*': ['subscribe', 'publish', 'presence'] },
      namespaces: { chat: { presence: true, history: false, clientEvents: ['typing'], maxPayloadBytes: 100 } },
    };
    const rt = connect({ url: 'http://bff', session: 's', fetch: async () => Response.json(chatAnswer), transports: { local: factory } });
    const chat = rt.channel('chat:1');
    chat.whisper('typing', { on: true });
    await waitFor(() => transports[0]?.whispers.length === 1, 'queued whisper sent');
    expect(() => chat.whisper('typing', 'x'.repeat(200))).toThrow(expect.objectContaining({ code: 'payload_too_large' }));
    rt.close();
  });
});
