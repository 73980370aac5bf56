/**
 * The Supabase provider's server side against the Realtime emulator (test code) whose
 * access decisions run the shipped RLS policies in PostgreSQL: the REST broadcast calls
 * (path, headers, body), the publish failure contract, the Realtime JWT, channel names,
 * presence/occupancy (not offered), configuration; and, with the official realtime-js,
 * what members can and cannot do to each other.
 */
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import { decodeJwt, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { resolveCapabilities } from '../../src/core/capabilities.js';
import type { Envelope } from '../../src/core/envelope.js';
import { toSupabaseMembersTopic, toSupabaseTopic } from '../../src/core/provider-names.js';
import { connect, type Realtime } from '../../src/client/index.js';
import { createServerFromEnv } from '../../src/server/from-env.js';
import { ProviderPublishError } from '../../providers/publish-error.js';
import { supabaseProviderOptionsFromEnv, type SupabaseProvider } from '../../providers/supabase/index.js';
import type { ProviderMessage } from '../../providers/types.js';
import { startSupabaseBff, supabaseProviderFor, type SupabaseBff } from '../conformance/supabase.harness.js';
import { waitFor } from '../conformance/suite.js';
import { signProjectJwt } from '../fixtures/supabase-emulator/server.js';
import { postgresCheck } from '../helpers/services.js';

const postgres = await postgresCheck();

let counter = 0;
function message(channel: string, data: unknown = { n: ++counter }, tenant = 'acme'): ProviderMessage {
  const envelope = { id: `id-${++counter}`, channel, event: 'status', data, seq: counter, ts: 1_700_000_000_000 } as Envelope;
  return { tenant, envelope };
}

function rtClient(url: string, apikey: string, token: string): RealtimeClient {
  const client = new RealtimeClient(`${url.replace('http', 'ws')}/realtime/v1`, { params: { apikey }, transport: WebSocket as never });
  void client.setAuth(token);
  return client;
}

function subscribed(channel: RealtimeChannel): Promise<string> {
  return new Promise((resolve) => channel.subscribe((status, error) => resolve(error ? `${status}: ${error.message}` : status)));
}

describe.skipIf(postgres === 'skip')('Supabase provider against the Realtime emulator', () => {
  let running: SupabaseBff;
  let provider: SupabaseProvider;
  const sockets: RealtimeClient[] = [];
  const clients: Realtime[] = [];

  beforeAll(async () => {
    running = await startSupabaseBff();
    provider = running.bff.provider as SupabaseProvider;
  });
  afterEach(async () => {
    for (const rt of clients.splice(0)) rt.close();
    await Promise.all(sockets.splice(0).map((socket) => socket.disconnect()));
  });
  afterAll(async () => {
    await running?.close();
  });

  function lastRequests(count: number) {
    return running.emulator.restRequests.slice(-count);
  }

  it('publishes through the REST broadcast endpoint as private messages with the service role', async () => {
    const before = running.emulator.restRequests.length;
    const published = await running.publish('acme', 'orders:rest', 'status', { status: 'shipped' });
    await waitFor(() => running.emulator.restRequests.length > before || undefined, 'the REST call');
    const [request] = lastRequests(1);
    expect(request?.status).toBe(202);
    expect(request?.headers).toEqual({
      apikey: running.emulator.serviceRoleKey,
      authorization: `Bearer ${running.emulator.serviceRoleKey}`,
      'content-type': 'application/json',
    });
    expect(request?.body).toEqual({
      messages: [
        {
          topic: 'orders:acme:rest',
          event: 'status',
          payload: { id: published.id, channel: 'orders:rest', event: 'status', data: { status: 'shipped' }, seq: published.seq, ts: expect.any(Number) },
          private: true,
        },
      ],
    });
  });

  it('batches in order, in calls of at most 50 messages', async () => {
    const before = running.emulator.restRequests.length;
    const messages = Array.from({ length: 120 }, () => message('orders:batch'));
    await provider.publish(messages, AbortSignal.timeout(5000));
    const requests = running.emulator.restRequests.slice(before);
    expect(requests.map((request) => (request.body as { messages: unknown[] }).messages.length)).toEqual([50, 50, 20]);
    const seqs = requests.flatMap((request) => (request.body as { messages: { payload: Envelope }[] }).messages.map((m) => m.payload.seq));
    expect(seqs).toEqual(messages.map((m) => m.envelope.seq));
  });

  it('reports how many were taken when a later call fails, and whole-request failures (5xx, 429, 401, 403, 404, 400, 413) as retryable', async () => {
    const messages = Array.from({ length: 60 }, () => message('orders:fail'));
    for (const status of [500, 429, 401, 403, 404, 400, 413]) {
      running.emulator.failBroadcasts(status);
      const first = await provider.publish(messages.slice(0, 1), AbortSignal.timeout(5000)).catch((error: unknown) => error);
      expect(first).toBeInstanceOf(ProviderPublishError);
      expect(first).toMatchObject({ taken: 0, permanent: false });
    }
    // The second call of the batch fails: the first 50 were taken and must not be resent.
    running.emulator.failBroadcasts(503, 1, 1);
    const error = await provider.publish(messages, AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ taken: 50, permanent: false });
  });

  it('refuses oversized events before the call, after sending the ones before them', async () => {
    const small = supabaseProviderFor(running.emulator, { maxPayloadBytes: 2000 });
    expect(small.limits.maxPayloadBytes).toBe(2000);
    const before = running.emulator.restRequests.length;
    const error = await small
      .publish([message('orders:big'), message('orders:big', { text: 'x'.repeat(3000) }), message('orders:big')], AbortSignal.timeout(5000))
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ taken: 1, permanent: true });
    expect((error as Error).message).toMatch(/over Supabase's 2000-byte/);
    const sent = running.emulator.restRequests.slice(before);
    expect(sent.map((request) => (request.body as { messages: unknown[] }).messages.length)).toEqual([1]);
  });

  it('finds the message Realtime refuses in a batch and reports it as permanent', async () => {
    // A provider allowing more than the project does: Realtime refuses the whole batch (422).
    const lax = supabaseProviderFor(running.emulator, { maxPayloadBytes: 600_000 });
    const before = running.emulator.restRequests.length;
    const error = await lax
      .publish([message('orders:lax'), message('orders:lax', { text: 'x'.repeat(300_000) }), message('orders:lax')], AbortSignal.timeout(5000))
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ taken: 1, permanent: true });
    expect(running.emulator.restRequests.slice(before).map((request) => request.status)).toEqual([422, 202, 422]);
  });

  it('honours the abort signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(provider.publish([message('orders:abort')], controller.signal)).rejects.toThrow();
  });

  it('maps channels to {namespace}:{tenant}:{rest} and refuses names past the topic limit', () => {
    expect(provider.channelName('acme', 'chat:general', true)).toBe('chat:acme:general');
    const long = `orders:${'x'.repeat(180)}`;
    expect(() => provider.channelName('t'.repeat(64), long, false)).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
    expect(toSupabaseMembersTopic('acme', 'chat:x')).toBe('chat:acme:x#members');
  });

  it('gives clients a short-lived Realtime JWT for RLS in the Switchboard role, never outliving the capability token', async () => {
    const expiresAt = Date.now() + 120_000;
    const caps = resolveCapabilities([{ 'chat:*': ['subscribe', 'presence'] }], 'alice');
    const config = await provider.clientConfig({ tenant: 'acme', user: 'alice', info: { name: 'Alice' }, caps, expiresAt }, { publicUrl: 'http://x' });
    expect(config).toMatchObject({ name: 'supabase', url: running.emulator.url, anonKey: running.emulator.anonKey, member: { id: 'alice', info: { name: 'Alice' } } });
    if (config.name !== 'supabase') throw new Error('unexpected config');
    const { payload, protectedHeader } = await jwtVerify(config.accessToken, new TextEncoder().encode(running.emulator.jwtSecret));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ role: 'switchboard_realtime', sub: 'switchboard:acme:alice', tid: 'acme', caps, info: { name: 'Alice' } });
    expect(payload.exp).toBeLessThanOrEqual(Math.floor(expiresAt / 1000));
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
    const soon = await provider.clientConfig({ tenant: 'acme', user: 'alice', info: {}, caps, expiresAt: Date.now() + 30_000 }, { publicUrl: 'http://x' });
    if (soon.name !== 'supabase') throw new Error('unexpected config');
    expect(decodeJwt(soon.accessToken).exp).toBeLessThanOrEqual(Math.ceil((Date.now() + 30_000) / 1000));
    expect((payload.ns as Record<string, unknown>).chat).toEqual({ presence: true, clientEvents: ['typing'] });
  });

  it('answers presence and occupancy queries with not_found: Realtime has no REST for them', async () => {
    const token = (await running.bff.capabilityToken('acme', 'alice')).token;
    for (const path of ['/v1/channels/chat:general/presence', '/v1/channels/orders:1/occupancy']) {
      const response = await fetch(`${running.bffUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'not_found', detail: expect.stringContaining('supabase') });
    }
  });

  it('lets no member forge server events, reach another tenant, or whisper names the namespace does not allow', async () => {
    const alice = await running.bff.capabilityToken('acme', 'alice');
    const mallory = await running.bff.capabilityToken('acme', 'mallory');
    const globex = await running.bff.capabilityToken('globex', 'gina');
    const tokenOf = (answer: { provider: Record<string, unknown> }) => String(answer.provider.accessToken);
    const { anonKey, url } = running.emulator;

    // Alice listens through the wrapper.
    const session = await running.session('acme', 'alice');
    const rt = connect({ url: running.bffUrl, session });
    clients.push(rt);
    const chat = rt.channel('chat:forge');
    const events: unknown[] = [];
    const whispers: string[] = [];
    chat.subscribe((event, data) => events.push([event, data]));
    chat.onWhisper('typing', () => whispers.push('typing'));
    chat.onWhisper('dance', () => whispers.push('dance'));
    await waitFor(() => chat.live, 'alice subscribed');
    expect(alice.tenant).toBe('acme');

    // Mallory uses realtime-js directly with her own valid Realtime JWT.
    const raw = rtClient(url, anonKey, tokenOf(mallory));
    sockets.push(raw);
    const eventsTopic = raw.channel(toSupabaseTopic('acme', 'chat:forge'), { config: { private: true } });
    const membersTopic = raw.channel(toSupabaseMembersTopic('acme', 'chat:forge'), { config: { private: true } });
    expect(await subscribed(eventsTopic)).toBe('SUBSCRIBED');
    expect(await subscribed(membersTopic)).toBe('SUBSCRIBED');
    const forged = { id: 'x', channel: 'chat:forge', event: 'status', data: 'forged', seq: 99, ts: 1 };
    await eventsTopic.send({ type: 'broadcast', event: 'status', payload: forged });
    await membersTopic.send({ type: 'broadcast', event: 'status', payload: forged });
    await membersTopic.send({ type: 'broadcast', event: 'client-dance', payload: { from: 'mallory', data: 1 } });
    await membersTopic.send({ type: 'broadcast', event: 'client-typing', payload: { from: 'mallory', data: 1 } });
    await waitFor(() => whispers.length > 0, 'the allowed whisper');
    expect(whispers).toEqual(['typing']);
    expect(events).toEqual([]);

    // Another tenant's JWT cannot join acme's topics; the anon key cannot join at all.
    const outsider = rtClient(url, anonKey, tokenOf(globex));
    sockets.push(outsider);
    expect(await subscribed(outsider.channel(toSupabaseTopic('acme', 'chat:forge'), { config: { private: true } }))).toMatch(/CHANNEL_ERROR: .*Unauthorized/);
    const anonymous = new RealtimeClient(`${url.replace('http', 'ws')}/realtime/v1`, { params: { apikey: anonKey }, transport: WebSocket as never });
    sockets.push(anonymous);
    expect(await subscribed(anonymous.channel(toSupabaseTopic('acme', 'orders:1'), { config: { private: true } }))).toMatch(/CHANNEL_ERROR: .*Unauthorized/);
  });

  it('keeps a realtime-js connection alive on heartbeats answered the way Realtime answers them', async () => {
    const statuses: string[] = [];
    const client = new RealtimeClient(`${running.emulator.url.replace('http', 'ws')}/realtime/v1`, {
      params: { apikey: running.emulator.anonKey },
      transport: WebSocket as never,
      heartbeatIntervalMs: 50,
      heartbeatCallback: (status) => statuses.push(status),
    });
    sockets.push(client);
    client.connect();
    await waitFor(() => statuses.filter((status) => status === 'ok').length >= 3, 'three answered heartbeats');
    expect(statuses).not.toContain('timeout');
    expect(client.isConnected()).toBe(true);
  });

  it('resubscribes to a channel right after leaving it, and hears only through the new subscription', async () => {
    const session = await running.session('acme', 'alice');
    const rt = connect({ url: running.bffUrl, session });
    clients.push(rt);
    const chat = rt.channel('chat:again');
    const first: unknown[] = [];
    const off = chat.subscribe((_event, data) => first.push(data));
    await waitFor(() => chat.live, 'first subscription');
    off();
    await waitFor(() => !chat.live, 'left');
    const second: unknown[] = [];
    chat.subscribe((_event, data) => second.push(data));
    await waitFor(() => chat.live, 'second subscription');
    await running.publish('acme', 'chat:again', 'note', 'hello');
    await waitFor(() => second.length === 1, 'event on the new subscription');
    expect(first).toEqual([]);
    expect(second).toEqual(['hello']);
  });

  it('joins again with a fresh token when Supabase refuses an expired Realtime JWT', async () => {
    let tokenRequests = 0;
    const spoiling: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/v1/token') || !response.ok) return response;
      tokenRequests++;
      if (tokenRequests > 1) return response;
      const body = (await response.json()) as { provider: Record<string, unknown> };
      const claims = decodeJwt(String(body.provider.accessToken));
      body.provider.accessToken = await signProjectJwt({ ...claims, exp: undefined }, Math.floor(Date.now() / 1000) - 10);
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const session = await running.session('acme', 'alice');
    const rt = connect({ url: running.bffUrl, session, fetch: spoiling });
    clients.push(rt);
    const orders = rt.channel('orders:expired');
    const got: unknown[] = [];
    orders.subscribe('status', (data) => got.push(data));
    await waitFor(() => orders.live, 'subscription with a fresh token');
    expect(tokenRequests).toBe(2);
    await running.publish('acme', 'orders:expired', 'status', { ok: true });
    await waitFor(() => got.length === 1, 'event');
  });
});

describe.skipIf(postgres === 'skip')('Supabase Realtime JWT refresh', () => {
  it('sends each refreshed Realtime JWT on the joined channels, so Supabase never closes one as expired', async () => {
    // Short-lived tokens (the Realtime JWT never outlives the capability token), but not so short
    // that a loaded machine's timer and fetch delays eat the whole margin: with 2 s, renewals
    // were due 0.3-0.4 s before the expiry and CI saw the emulator close the channel.
    const running = await startSupabaseBff({ tokenTtlSeconds: 4 });
    try {
      const session = await running.session('acme', 'alice');
      let tokenRequests = 0;
      const counting: typeof fetch = (input, init) => {
        if (String(input).endsWith('/v1/token')) tokenRequests++;
        return fetch(input, init);
      };
      const rt = connect({ url: running.bffUrl, session, fetch: counting });
      const chat = rt.channel('chat:refresh');
      const got: unknown[] = [];
      chat.subscribe((_event, data) => got.push(data));
      await chat.presence.enter();
      await waitFor(() => chat.live, 'subscription');
      await waitFor(() => tokenRequests >= 3, 'two refreshes', 15_000);
      await running.publish('acme', 'chat:refresh', 'note', 'after');
      await waitFor(() => got.length === 1, 'event after the refreshes');
      expect(running.emulator.shutdowns).toEqual([]);
      rt.close();
      // Without refreshes, the emulator does close channels whose JWT expired.
      const raw = rtClient(running.emulator.url, running.emulator.anonKey, String((await running.bff.capabilityToken('acme', 'bob')).provider.accessToken));
      const channel = raw.channel(toSupabaseTopic('acme', 'orders:x'), { config: { private: true } });
      expect(await subscribed(channel)).toBe('SUBSCRIBED');
      const expired = await waitFor(() => running.emulator.shutdowns.find((shutdown) => shutdown.topic === 'orders:acme:x'), 'the expiry', 10_000);
      expect(expired.reason).toBe('Token has expired');
      await raw.disconnect();
    } finally {
      await running.close();
    }
  }, 40_000);
});

describe('Supabase configuration from the environment', () => {
  const base = {
    SUPABASE_URL: 'https://abcd.supabase.co/',
    SUPABASE_ANON_KEY: 'anon-key-0123456789abcdef',
    SUPABASE_SERVICE_ROLE_KEY: 'service-key-0123456789abcdef',
    SUPABASE_JWT_SECRET: 'a-jwt-secret-of-at-least-32-characters!!',
  };

  it('parses the four variables and the optional plan limit', () => {
    expect(supabaseProviderOptionsFromEnv({ ...base, SUPABASE_MAX_PAYLOAD_KB: '3000' })).toEqual({
      url: 'https://abcd.supabase.co',
      anonKey: base.SUPABASE_ANON_KEY,
      serviceRoleKey: base.SUPABASE_SERVICE_ROLE_KEY,
      jwtSigningKey: { secret: base.SUPABASE_JWT_SECRET },
      maxPayloadBytes: 3_000_000,
    });
  });

  it('parses the quota and Realtime JWT lifetime settings', () => {
    expect(supabaseProviderOptionsFromEnv({ ...base, SUPABASE_MAX_MESSAGES_PER_SECOND: '500', SUPABASE_REALTIME_JWT_TTL_S: '60' })).toMatchObject({
      maxMessagesPerSecond: 500,
      realtimeJwtTtlSeconds: 60,
    });
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_MAX_MESSAGES_PER_SECOND: '0' })).toThrow(/SUPABASE_MAX_MESSAGES_PER_SECOND/);
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_URL: undefined })).toThrow(/Invalid SUPABASE_URL: required when SWITCHBOARD_PROVIDER=supabase/);
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_URL: 'ftp://x' })).toThrow(/Invalid SUPABASE_URL: must be the project URL/);
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_JWT_SECRET: undefined })).toThrow(/Invalid SUPABASE_JWT_SECRET: required/);
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_JWT_SECRET: 'short' })).toThrow(/Invalid SUPABASE_JWT_SECRET: must be the project JWT secret/);
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_JWT_SECRET: undefined, SUPABASE_JWT_SIGNING_KEY: '{"kty":"oct"}' })).toThrow(/Invalid SUPABASE_JWT_SIGNING_KEY/);
    expect(() => supabaseProviderOptionsFromEnv({ ...base, SUPABASE_MAX_PAYLOAD_KB: '9999' })).toThrow(/Invalid SUPABASE_MAX_PAYLOAD_KB/);
  });

  it('never puts a secret in its error messages', () => {
    try {
      supabaseProviderOptionsFromEnv({ ...base, SUPABASE_JWT_SECRET: 'short-secret-value' });
    } catch (error) {
      expect(String(error)).not.toContain('short-secret-value');
    }
  });

  it('is what SWITCHBOARD_PROVIDER=supabase builds', async () => {
    const { app } = await createServerFromEnv({ ...base, SWITCHBOARD_PROVIDER: 'supabase', SWITCHBOARD_STORE: 'memory', LOG_LEVEL: 'silent' });
    expect(app.switchboard.provider.name).toBe('supabase');
    await app.shutdown();
    await expect(createServerFromEnv({ SWITCHBOARD_PROVIDER: 'supabase', SWITCHBOARD_STORE: 'memory', LOG_LEVEL: 'silent' })).rejects.toThrow(/SUPABASE_URL/);
  });

  it('refuses an unknown provider name', async () => {
    await expect(createServerFromEnv({ SWITCHBOARD_PROVIDER: 'supabas', SWITCHBOARD_STORE: 'memory' })).rejects.toThrow(/SWITCHBOARD_PROVIDER/);
  });
});
