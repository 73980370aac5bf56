/**
 * The sign-in deadline (see local-admission.test.ts) closes connections that hold no
 * channel with 4009, as Pusher's authorized connections do. The client wrapper must take
 * that as "reconnect later", not as a refusal: an app that connects before it subscribes
 * to anything must not end up `failed`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type ConnectionState, type Realtime } from '../../src/client/index.js';
import { createLocalProvider } from '../../providers/local/index.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';

let bff: TestBff | undefined;
let rt: Realtime | undefined;
afterEach(async () => {
  rt?.close();
  await bff?.close();
});

async function until(probe: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('client wrapper on the local provider: the sign-in deadline', () => {
  it('reconnects after an idle connection is closed for holding no channel, and then subscribes and receives', async () => {
    const provider = createLocalProvider({ authTimeoutSeconds: 0.5 });
    bff = await startBff({ provider });
    const session = await bff.devSession('acme', 'ana');
    rt = connect({ url: bff.url, session, reconnect: { baseMs: 50, maxMs: 300 } });
    const states: ConnectionState[] = [];
    rt.connection.on('change', (state) => states.push(state));
    await rt.ready();
    await until(() => states.includes('reconnecting') && states.at(-1) === 'connected', 'the idle close and the reconnect');
    expect(states).not.toContain('failed');

    const received: unknown[] = [];
    rt.channel('orders:1').subscribe('status', (data) => received.push(data));
    // Subscribed channels make the (new) connection authenticated: it is kept.
    await until(() => provider.serverStats().channels === 1, 'the subscription');
    const published = async () => (await bff!.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { n: 1 } }, API_KEYS.acme)).status;
    expect(await published()).toBe(200);
    await until(() => received.length === 1, 'the event');
    const reconnects = states.filter((state) => state === 'reconnecting').length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(states.filter((state) => state === 'reconnecting').length).toBe(reconnects);
    expect(rt.connection.state).toBe('connected');
  });
});
