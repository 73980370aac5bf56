/**
 * The wrapper's Ably transport (official `ably` SDK) against the BFF and the Ably protocol
 * emulator, on the unhappy paths the conformance suite does not reach: messages another
 * member forges (server-event lookalikes, whisper names the namespace does not allow),
 * whispers Ably refuses, and token renewal in place on one connection.
 */
import * as Ably from 'ably';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Realtime } from '../../src/client/index.js';
import { buildAppConfig } from '../../src/core/config.js';
import { createAblyProvider } from '../../providers/ably/index.js';
import { createAblyTransport } from '../../providers/ably/client.js';
import type { ClientTokenInfo } from '../../providers/types.js';
import { emulatorClient } from '../fixtures/ably-emulator/sdk-client.js';
import { startAblyEmulator, type AblyEmulator } from '../fixtures/ably-emulator/index.js';
import { startBff, type TestBff } from '../helpers/bff.js';
import { waitFor } from '../conformance/suite.js';

let emulator: AblyEmulator;
let bff: TestBff;
const clients: Realtime[] = [];
const raw: Ably.Realtime[] = [];

beforeAll(async () => {
  emulator = await startAblyEmulator();
  bff = await startBff({ provider: createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }) });
});
afterEach(() => {
  for (const rt of clients.splice(0)) rt.close();
  for (const client of raw.splice(0)) client.close();
});
afterAll(async () => {
  await bff?.close();
  await emulator?.close();
});

async function wrapper(user: string, target: TestBff = bff): Promise<Realtime> {
  const rt = connect({ url: target.url, session: await target.devSession('acme', user, { name: user }), reconnect: { baseMs: 50, maxMs: 300 } });
  clients.push(rt);
  return rt;
}

/** A member using the official SDK directly, with TokenRequests from the BFF like the wrapper gets. */
async function member(user: string): Promise<Ably.Realtime> {
  const { token } = await bff.capabilityToken('acme', user);
  const client = emulatorClient(emulator, async () => (await (await bff.post('/v1/auth/ably', {}, token)).json()) as Ably.TokenRequest);
  raw.push(client);
  return client;
}

describe('Ably transport', () => {
  it('drops forged server events and whisper names the namespace does not allow', async () => {
    const alice = await wrapper('alice');
    const chat = alice.channel('chat:forged');
    const events: string[] = [];
    const whispers: Array<[string, unknown, string | undefined]> = [];
    chat.subscribe((event) => events.push(event));
    chat.onWhisper('typing', (data, from) => whispers.push(['typing', data, from]));
    chat.onWhisper('dance', (data, from) => whispers.push(['dance', data, from]));
    await waitFor(() => chat.live, 'subscription');

    const mallory = await member('mallory');
    const channel = mallory.channels.get('chat:acme:forged');
    const forgedEnvelope = { id: 'forged', channel: 'chat:forged', event: 'message', data: { text: 'pay me' }, seq: 999, ts: Date.now() };
    await channel.publish('message', forgedEnvelope);
    await channel.publish('client-dance', { on: true });
    await channel.publish('client-typing', { on: true });
    await waitFor(() => whispers.length === 1, 'the allowed whisper');
    await bff.post('/v1/publish', { channel: 'chat:forged', event: 'message', data: { text: 'real' } }, 'acme-publish-key-0001');
    await waitFor(() => events.length === 1, 'the real event');
    expect(whispers).toEqual([['typing', { on: true }, 'mallory']]);
    expect(events).toEqual(['message']);
  });

  it('reports a whisper Ably refuses as too large as a warning, and stays connected', async () => {
    const alice = await wrapper('alice');
    const chat = alice.channel('chat:big');
    chat.onWhisper('typing', () => undefined);
    const warnings: string[] = [];
    alice.connection.on('warning', (error) => warnings.push(error.code));
    await waitFor(() => chat.live, 'subscription');
    // Under the namespace's 64 KiB for the payload, over Ably's 64 KiB for name + clientId + data.
    chat.whisper('typing', { text: 'x'.repeat(65_510) });
    await waitFor(() => warnings.length > 0, 'warning');
    expect(warnings).toEqual(['payload_too_large']);
    expect(alice.connection.state).toBe('connected');
  });

  it('reports whispers Ably rate-limits (NACK 429) as rate_limited warnings', async () => {
    const strict = await startAblyEmulator({ inboundRateLimit: 5 });
    const strictBff = await startBff({ provider: createAblyProvider({ apiKey: strict.apiKey, endpoint: strict.endpoint, port: strict.port, tls: false }) });
    try {
      const alice = await wrapper('alice', strictBff);
      const chat = alice.channel('chat:strict');
      chat.onWhisper('typing', () => undefined);
      const warnings: string[] = [];
      alice.connection.on('warning', (error) => warnings.push(error.code));
      await waitFor(() => chat.live, 'subscription');
      // Within the client's own 10/s budget, over this account's 5/s.
      for (let index = 0; index < 8; index++) chat.whisper('typing', { index });
      await waitFor(() => warnings.length === 3, 'three refusals');
      expect(new Set(warnings)).toEqual(new Set(['rate_limited']));
      expect(alice.connection.state).toBe('connected');
    } finally {
      await strictBff.close();
      await strict.close();
    }
  });

  it('reports a channel Ably refuses as a forbidden channel error, once, keeping the connection', async () => {
    // `orders:10*` has no exact Ably equivalent: the capability keeps orders:10 and orders:10:*, not orders:100.
    const narrowBff = await startBff({
      provider: createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }),
      config: buildAppConfig({ roles: { member: { 'orders:10*': ['subscribe'] } } }),
    });
    try {
      const alice = await wrapper('alice', narrowBff);
      const ten = alice.channel('orders:10');
      const hundred = alice.channel('orders:100');
      const errors: string[] = [];
      hundred.on('error', (error) => errors.push(error.code));
      ten.subscribe(() => undefined);
      hundred.subscribe(() => undefined);
      await waitFor(() => ten.live && errors.length > 0, 'one live, one refused');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(errors).toEqual(['forbidden']);
      expect(hundred.live).toBe(false);
      expect(alice.connection.state).toBe('connected');
    } finally {
      await narrowBff.close();
    }
  });

  it('fails for good when the BFF refuses Ably credentials (403), with the BFF\'s reason', async () => {
    const emptyBff = await startBff({
      provider: createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }),
      config: buildAppConfig({ roles: { member: { 'nothing*': ['subscribe'] } } }),
    });
    try {
      const rt = await wrapper('alice', emptyBff);
      await expect(rt.ready()).rejects.toMatchObject({ code: 'forbidden' });
      expect(rt.connection.state).toBe('failed');
      expect(rt.connection.error?.message).toContain('grants no channel Ably can carry');
    } finally {
      await emptyBff.close();
    }
  });

  it('updates the presence info of entered members when a refreshed token carries new identity info', async () => {
    const shortBff = await startBff({
      provider: createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }),
      tokenTtlSeconds: 2,
    });
    try {
      const sessions = [await shortBff.devSession('acme', 'alice', { name: 'Alice' }), await shortBff.devSession('acme', 'alice', { name: 'Alice Cooper' })];
      let calls = 0;
      const alice = connect({ url: shortBff.url, session: () => sessions[Math.min(calls++, 1)] ?? '', reconnect: { baseMs: 50, maxMs: 300 } });
      clients.push(alice);
      await alice.channel('chat:rename').presence.enter();
      const bob = await wrapper('bob', shortBff);
      const seen = bob.channel('chat:rename');
      await seen.presence.enter();
      await waitFor(() => seen.presence.members().find((m) => m.id === 'alice')?.info.name === 'Alice Cooper', 'the new name', 6000);
    } finally {
      await shortBff.close();
    }
  }, 10_000);

  it('keeps an idle connection alive on heartbeats and detects a silent one', async () => {
    const beating = await startAblyEmulator({ heartbeatMs: 200 });
    const silent = await startAblyEmulator({ heartbeatMs: 200, sendHeartbeats: false });
    const bffs = await Promise.all(
      [beating, silent].map((target) => startBff({ provider: createAblyProvider({ apiKey: target.apiKey, endpoint: target.endpoint, port: target.port, tls: false }) })),
    );
    try {
      const states: string[][] = [[], []];
      for (const [index, target] of bffs.entries()) {
        // connectTimeoutMs is also the SDK's realtimeRequestTimeout: silence longer than maxIdleInterval (600 ms) + 1 s is a dead link.
        const rt = connect({ url: target.url, session: await target.devSession('acme', 'alice'), connectTimeoutMs: 1000, reconnect: { baseMs: 50, maxMs: 300 } });
        clients.push(rt);
        await rt.ready();
        rt.connection.on('change', (state) => states[index]?.push(state));
      }
      await waitFor(() => states[1]?.includes('reconnecting'), 'the silent link detected', 4000);
      expect(states[0]).toEqual([]);
    } finally {
      for (const target of bffs) await target.close();
      await beating.close();
      await silent.close();
    }
  });

  it('rides out an Ably token expiry the SDK renews itself, and re-syncs from history after that reconnection', async () => {
    const shortBff = await startBff({
      provider: createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }),
      tokenTtlSeconds: 2,
    });
    try {
      // The first renewal's TokenRequest arrives late: the first Ably token expires before it is replaced in place.
      let tokenRequests = 0;
      let historyRequests = 0;
      const slow: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).includes('/v1/history')) historyRequests++;
        if (String(input).endsWith('/v1/auth/ably') && tokenRequests++ === 1) await new Promise((resolve) => setTimeout(resolve, 1500));
        return response;
      };
      const opened = emulator.connectionsOpened();
      const alice = connect({ url: shortBff.url, session: await shortBff.devSession('acme', 'alice'), fetch: slow, reconnect: { baseMs: 50, maxMs: 300 } });
      clients.push(alice);
      const orders = alice.channel('orders:expiry');
      const got: unknown[] = [];
      orders.subscribe('n', (data) => got.push(data));
      await waitFor(() => orders.live, 'subscription');
      await shortBff.post('/v1/publish', { channel: 'orders:expiry', event: 'n', data: 1 }, 'acme-publish-key-0001');
      await waitFor(() => got.length === 1, 'the first event');
      const states: string[] = [];
      alice.connection.on('change', (state) => states.push(state));
      const historyBefore = historyRequests;
      await waitFor(() => emulator.connectionsOpened() - opened >= 2, 'the SDK reconnecting after the token expired', 6000);
      await waitFor(() => historyRequests > historyBefore, 'a re-sync from history', 3000);
      await shortBff.post('/v1/publish', { channel: 'orders:expiry', event: 'n', data: 2 }, 'acme-publish-key-0001');
      await waitFor(() => got.length === 2, 'the next event', 6000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(got).toEqual([1, 2]);
      expect(states).toEqual([]);
    } finally {
      await shortBff.close();
    }
  }, 15_000);

  it('stays closed when a token request it started before close() arrives afterwards', async () => {
    const answer = await bff.capabilityToken('acme', 'alice');
    const token = answer as unknown as ClientTokenInfo;
    let slow = false;
    const transport = createAblyTransport(token, {
      baseUrl: bff.url,
      token: async () => token,
      connectTimeoutMs: 5000,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (slow) await new Promise((resolve) => setTimeout(resolve, 400));
        return response;
      },
    });
    await transport.connect();
    const opened = emulator.connectionsOpened();
    slow = true;
    transport.updateToken(token);
    transport.close();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(emulator.connectionsOpened()).toBe(opened);
    expect(emulator.connectionCount()).toBe(0);
  });

  it('renews the Ably token in place on the same connection when the capability token is refreshed', async () => {
    // Its own emulator, so connections other tests leave closing cannot blur the count.
    const own = await startAblyEmulator();
    const shortBff = await startBff({
      provider: createAblyProvider({ apiKey: own.apiKey, endpoint: own.endpoint, port: own.port, tls: false }),
      // 6 s (5-6 s after rounding `exp` down): the wrapper refreshes at 80 %, leaving a second of slack under load.
      tokenTtlSeconds: 6,
    });
    try {
      const renewals = own.renewals();
      const opened = own.connectionsOpened();
      const alice = await wrapper('alice', shortBff);
      const orders = alice.channel('orders:renew');
      const got: unknown[] = [];
      orders.subscribe('n', (data) => got.push(data));
      await waitFor(() => orders.live, 'subscription');
      const states: string[] = [];
      alice.connection.on('change', (state) => states.push(state));
      // The first Ably token lives ≤ 6 s; the emulator disconnects connections whose token expired.
      await waitFor(() => own.renewals() > renewals, 'a renewal in place (AUTH)', 10_000);
      await shortBff.post('/v1/publish', { channel: 'orders:renew', event: 'n', data: 1 }, 'acme-publish-key-0001');
      await waitFor(() => got.length === 1, 'event after renewals');
      expect(states).toEqual([]);
      expect(own.connectionsOpened() - opened).toBe(1);
    } finally {
      await shortBff.close();
      await own.close();
    }
  }, 20_000);
});
