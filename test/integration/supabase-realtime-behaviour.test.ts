/**
 * Where Supabase Realtime is inconvenient, against the emulator that reproduces it
 * (test/fixtures/supabase-emulator): the Erlang term size limit, whole-request failures,
 * quotas, REST broadcasts answered 202 and dropped, the new API keys, JWKS verification
 * of asymmetric signing keys, join errors, and terminating a user.
 */
import { RealtimeClient, type RealtimeChannel } from '@supabase/realtime-js';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { eventNameProblem, payloadBytes, type Envelope, type JsonValue } from '../../src/core/envelope.js';
import type { SwitchboardError } from '../../src/core/errors.js';
import { toSupabaseMembersTopic, toSupabaseTopic } from '../../src/core/provider-names.js';
import { connect, type Realtime } from '../../src/client/index.js';
import type { SupabaseProvider } from '../../providers/supabase/index.js';
import type { ProviderMessage } from '../../providers/types.js';
import { startSupabaseBff, supabaseProviderFor, type SupabaseBff, type SupabaseSetup } from '../conformance/supabase.harness.js';
import { waitFor } from '../conformance/suite.js';
import { API_KEYS } from '../helpers/bff.js';
import { postgresCheck } from '../helpers/services.js';
import { erlangExternalSize } from '../fixtures/supabase-emulator/external-size.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

async function expectProblem(response: Response, status: number, code: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(await response.json()).toMatchObject({ code, status, type: `urn:switchboard:problem:${code}` });
}

const postgres = await postgresCheck();

let counter = 0;
function message(channel: string, data: unknown = { n: ++counter }): ProviderMessage {
  const envelope = { id: `id-${++counter}`, channel, event: 'status', data, seq: counter, ts: 1_700_000_000_000 } as Envelope;
  return { tenant: 'acme', envelope };
}

function subscribed(channel: RealtimeChannel): Promise<string> {
  return new Promise((resolve) => channel.subscribe((status, error) => resolve(error ? `${status}: ${error.message}` : status)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(postgres === 'skip')('Supabase Realtime as it behaves live', () => {
  const started: SupabaseBff[] = [];
  const clients: Realtime[] = [];
  const sockets: RealtimeClient[] = [];
  let running: SupabaseBff;

  async function start(setup: SupabaseSetup = {}, tokenTtlSeconds?: number): Promise<SupabaseBff> {
    const bff = await startSupabaseBff(tokenTtlSeconds ? { tokenTtlSeconds } : {}, setup);
    started.push(bff);
    return bff;
  }

  async function client(bff: SupabaseBff, user = 'alice'): Promise<Realtime> {
    const rt = connect({ url: bff.bffUrl, session: await bff.session('acme', user) });
    clients.push(rt);
    return rt;
  }

  beforeAll(async () => {
    running = await start();
  });
  afterEach(async () => {
    for (const rt of clients.splice(0)) rt.close();
    await Promise.all(sockets.splice(0).map((socket) => socket.disconnect()));
  });
  afterAll(async () => {
    for (const bff of started) await bff.close();
  });

  describe('payload size as Realtime measures it (:erlang.external_size)', () => {
    it('refuses before the call an array of floats whose JSON is under the limit but whose term is over it', async () => {
      const provider = running.bff.provider as SupabaseProvider;
      const floats = Array.from({ length: 30_000 }, () => 0.5);
      expect(JSON.stringify(floats).length).toBeLessThan(256_000 / 2);
      const before = running.emulator.restRequests.length;
      const error = await provider.publish([message('orders:floats', floats)], AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ taken: 0, permanent: true });
      expect((error as Error).message).toMatch(/as Realtime measures it/);
      expect(running.emulator.restRequests.length).toBe(before);
    });

    it('is what the emulator refuses: the same event through a provider that only counts JSON gets a 422', async () => {
      const lax = supabaseProviderFor(running.emulator, { maxPayloadBytes: 3_000_000 });
      const error = await lax.publish([message('orders:floats', Array.from({ length: 30_000 }, () => 0.5))], AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ taken: 0, permanent: true });
      expect(running.emulator.restRequests.at(-1)?.status).toBe(422);
    });
  });

  describe('payload size refused at publish, not later by the provider', () => {
    // A small plan limit, so shapes that pass the namespace's JSON check can exceed the term size.
    const LIMIT = 8000;
    let small: SupabaseBff;
    beforeAll(async () => {
      small = await start({ emulator: { maxPayloadBytes: LIMIT }, provider: () => ({ maxPayloadBytes: LIMIT }) });
    });

    const growing = {
      floats: Array.from({ length: 1500 }, () => 0.5),
      'small objects': Array.from({ length: 800 }, () => ({ a: 0 })),
      'negative integers': Array.from({ length: 2000 }, () => -1),
      'empty strings': Array.from({ length: 2000 }, () => ''),
    };

    it.each(Object.entries(growing))('answers 413 for %s under the JSON limit but over Realtime\'s term size: POST /v1/publish, a batch, app.publish', async (_shape, data) => {
      expect(payloadBytes(data)).toBeLessThanOrEqual(small.bff.provider.limits.maxPayloadBytes);
      // What Realtime itself would refuse for good (422), padding included.
      expect(erlangExternalSize(JSON.stringify(data))).toBeGreaterThan(LIMIT + 500);
      const event = { channel: 'orders:terms', event: 'status', data };
      const before = small.emulator.restRequests.length;
      await expectProblem(await small.bff.post('/v1/publish', event, API_KEYS.acme), 413, 'payload_too_large');
      await expectProblem(await small.bff.post('/v1/publish', { messages: [{ ...event, data: 'fits' }, event] }, API_KEYS.acme), 413, 'payload_too_large');
      await expect(small.bff.app.publish({ tenant: 'acme', ...event })).rejects.toMatchObject({ code: 'payload_too_large' });
      expect(small.emulator.restRequests.length).toBe(before);
      expect(small.bff.app.switchboard.deliveryFailures.forTenant('acme').total).toBe(0);
    });

    it('never has the provider refuse for size what publish accepted (property)', async () => {
      const element = fc.constantFrom<JsonValue>(0.5, -1, 300, 2 ** 40, 1.5e300, '', 'ab', null, true, {}, { a: 0 }, [], [0.5]);
      const homogeneous = fc.tuple(element, fc.integer({ min: 0, max: 2500 })).map(([item, count]) => Array.from({ length: count }, () => item));
      const mixed = fc.array(
        fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 2 }), fc.integer({ min: -5, max: 5 }), { maxKeys: 2 })),
        { minLength: 300, maxLength: 2000 },
      );
      const long = fc.string({ unit: 'grapheme', minLength: 1000, maxLength: 7000 });
      const data: fc.Arbitrary<JsonValue> = fc.oneof(homogeneous, mixed, long, fc.jsonValue() as fc.Arbitrary<JsonValue>);
      const eventName = fc.oneof(fc.constant('status'), fc.constantFrom('"'.repeat(200), '€'.repeat(200), '😀'.repeat(100)), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }).filter((name) => eventNameProblem(name) === undefined && name.length <= 200));
      const channel = fc.constantFrom('orders:p', `orders:${'x'.repeat(193)}`);
      const accepted: string[] = [];
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(channel, eventName, data, async (name, event, payload) => {
          const outcome = await small.bff.app.publish({ tenant: 'acme', channel: name, event, data: payload }).catch((error: unknown) => {
            expect(error).toMatchObject({ code: 'payload_too_large' });
            refused++;
            return undefined;
          });
          if (!outcome) return;
          expect(outcome.status).not.toBe('refused');
          accepted.push(outcome.id);
        }),
        { numRuns: RUNS },
      );
      const sent = () => new Set(small.emulator.restRequests.filter((request) => request.status === 202).flatMap((request) => (request.body as { messages: { payload: { id: string } }[] }).messages.map((item) => item.payload.id)));
      await waitFor(() => accepted.every((id) => sent().has(id)), 'every accepted event at Realtime', 30_000);
      expect(small.emulator.restRequests.filter((request) => request.status === 422)).toEqual([]);
      expect(small.bff.app.switchboard.deliveryFailures.forTenant('acme').total).toBe(0);
      // The runs straddled the limit: some events were large enough to be refused.
      expect(refused).toBeGreaterThan(0);
      expect(accepted.length).toBeGreaterThan(0);
    }, 120_000);
  });

  describe('whole-request failures', () => {
    it('treats a wrong project URL as a configuration error to retry, not as refused events', async () => {
      const wrong = supabaseProviderFor(running.emulator, { url: `${running.emulator.url}/not-the-project` });
      const error = await wrong.publish([message('orders:1'), message('orders:1')], AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ taken: 0, permanent: false });
      expect((error as Error).message).toMatch(/SUPABASE_URL/);
    });

    it('does not look for a refused message when a gateway refuses the whole batch', async () => {
      const provider = running.bff.provider as SupabaseProvider;
      for (const status of [400, 413, 404]) {
        running.emulator.failBroadcasts(status);
        const before = running.emulator.restRequests.length;
        const error = await provider.publish([message('orders:2'), message('orders:2'), message('orders:2')], AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
        expect(error).toMatchObject({ taken: 0, permanent: false });
        expect(running.emulator.restRequests.length - before).toBe(1);
      }
    });
  });

  it('fills a message Realtime answered 202 and dropped from the event log when the next one arrives', async () => {
    const rt = await client(running);
    const orders = rt.channel('orders:dropped');
    const got: unknown[] = [];
    orders.subscribe('status', (data) => got.push(data));
    await waitFor(() => orders.live, 'subscribed');
    await running.publish('acme', 'orders:dropped', 'status', 'zero');
    await waitFor(() => got.length === 1, 'the first event');
    running.emulator.dropBroadcasts(1);
    await running.publish('acme', 'orders:dropped', 'status', 'first');
    await waitFor(() => running.emulator.restRequests.some((request) => JSON.stringify(request.body).includes('"first"')) || undefined, 'the dropped call');
    await sleep(200);
    expect(got).toEqual(['zero']);
    await running.publish('acme', 'orders:dropped', 'status', 'second');
    await waitFor(() => got.length === 3, 'the gap filled');
    expect(got).toEqual(['zero', 'first', 'second']);
  });

  describe('quotas', () => {
    it('answers 429 past the messages-per-second quota, which the publisher retries', async () => {
      const limited = await start({ emulator: { maxEventsPerSecond: 10, rateTickMs: 200 } });
      const provider = limited.bff.provider as SupabaseProvider;
      const error = await provider.publish(Array.from({ length: 20 }, () => message('orders:q')), AbortSignal.timeout(5000)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ taken: 0, permanent: false });
      expect((error as Error).message).toMatch(/429 Too many messages to broadcast.*quota/);
    });

    it('paces its REST broadcasts to SUPABASE_MAX_MESSAGES_PER_SECOND, in calls Realtime accepts', async () => {
      const paced = await start({ emulator: { maxEventsPerSecond: 20 }, provider: () => ({ maxMessagesPerSecond: 20 }) });
      const provider = paced.bff.provider as SupabaseProvider;
      const startedAt = performance.now();
      await provider.publish(Array.from({ length: 45 }, () => message('orders:paced')), AbortSignal.timeout(20_000));
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(1900);
      expect(paced.emulator.restRequests.map((request) => [request.status, (request.body as { messages: unknown[] }).messages.length])).toEqual([
        [202, 10],
        [202, 10],
        [202, 10],
        [202, 10],
        [202, 5],
      ]);
    });

    it('closes channels that receive past the quota, counting each delivery, with the reason', async () => {
      const limited = await start({ emulator: { maxEventsPerSecond: 5, rateTickMs: 200 } });
      const rt = await client(limited);
      const chat = rt.channel('chat:flood');
      const errors: SwitchboardError[] = [];
      chat.on('error', (error) => errors.push(error));
      chat.subscribe(() => undefined);
      await chat.presence.enter();
      await waitFor(() => chat.live, 'subscribed');
      // Another member whispers fast: every delivery counts against the project's quota.
      const raw = new RealtimeClient(`${limited.emulator.url.replace('http', 'ws')}/realtime/v1`, { params: { apikey: limited.emulator.anonKey }, transport: WebSocket as never });
      sockets.push(raw);
      await raw.setAuth(String((await limited.bff.capabilityToken('acme', 'mallory')).provider.accessToken));
      const members = raw.channel(toSupabaseMembersTopic('acme', 'chat:flood'), { config: { private: true } });
      expect(await subscribed(members)).toBe('SUBSCRIBED');
      for (let index = 0; index < 100 && !limited.emulator.shutdowns.length; index++) {
        await members.send({ type: 'broadcast', event: 'client-typing', payload: { from: 'mallory', data: index } });
        await sleep(20);
      }
      await waitFor(() => limited.emulator.shutdowns.find((shutdown) => shutdown.reason === 'Too many messages per second'), 'the quota shutdown');
      await waitFor(() => errors.find((error) => /Too many messages per second/.test(error.message)), 'the reason on the channel');
    });

    it('closes a channel that tracks presence past the presence quota, with the reason', async () => {
      const limited = await start({ emulator: { maxPresenceEventsPerSecond: 1, rateTickMs: 200 } });
      const errors: SwitchboardError[] = [];
      for (const user of ['ann', 'ben', 'cat', 'dan']) {
        const rt = await client(limited, user);
        const chat = rt.channel('chat:crowd');
        chat.on('error', (error) => errors.push(error));
        chat.subscribe(() => undefined);
        void chat.presence.enter().catch(() => undefined);
        await sleep(250);
      }
      await waitFor(() => limited.emulator.shutdowns.find((shutdown) => shutdown.reason === 'Too many presence messages per second'), 'the presence quota shutdown');
      await waitFor(() => errors.find((error) => /Too many presence messages per second/.test(error.message)), 'the reason on the channel');
    });

    it('refuses in the client a channel past 100 per connection (presence channels use two)', async () => {
      const rt = await client(running);
      const channels = Array.from({ length: 51 }, (_, index) => rt.channel(`chat:room-${index}`));
      const errors: SwitchboardError[] = [];
      for (const channel of channels) {
        channel.on('error', (error) => errors.push(error));
        channel.subscribe(() => undefined);
      }
      await waitFor(() => channels.filter((channel) => channel.live).length === 50 && errors.length === 1, '50 joined, one refused', 30_000);
      expect(errors[0]).toMatchObject({ code: 'rate_limited' });
      expect(errors[0]?.message).toMatch(/100 channels per connection/);
      expect(running.emulator.joinErrors.filter((error) => /Too many channels/.test(error.reason))).toEqual([]);
    }, 60_000);

    it('the emulator refuses a join past the channels-per-connection quota as Realtime does', async () => {
      const limited = await start({ emulator: { maxChannelsPerClient: 1 } });
      const token = String((await limited.bff.capabilityToken('acme', 'alice')).provider.accessToken);
      const raw = new RealtimeClient(`${limited.emulator.url.replace('http', 'ws')}/realtime/v1`, { params: { apikey: limited.emulator.anonKey }, transport: WebSocket as never });
      sockets.push(raw);
      await raw.setAuth(token);
      expect(await subscribed(raw.channel(toSupabaseTopic('acme', 'orders:a'), { config: { private: true } }))).toBe('SUBSCRIBED');
      expect(await subscribed(raw.channel(toSupabaseTopic('acme', 'orders:b'), { config: { private: true } }))).toMatch(/ChannelRateLimitReached: Too many channels/);
    });
  });

  describe('keys', () => {
    it('publishes with a secret API key (sb_secret_…) in apikey only, and browsers connect with a publishable one', async () => {
      const modern = await start({ provider: (emulator) => ({ anonKey: emulator.publishableKey, serviceRoleKey: emulator.secretKey }) });
      const rt = await client(modern);
      const orders = rt.channel('orders:keys');
      const got: unknown[] = [];
      orders.subscribe('status', (data) => got.push(data));
      await waitFor(() => orders.live, 'subscribed with the publishable key');
      await modern.publish('acme', 'orders:keys', 'status', 'hello');
      await waitFor(() => got.length === 1, 'event');
      const request = modern.emulator.restRequests.at(-1);
      expect(request?.status).toBe(202);
      expect(request?.headers).toEqual({ apikey: modern.emulator.secretKey, authorization: undefined, 'content-type': 'application/json' });
    });

    const wrongAnonKey = () =>
      new SignJWT({ role: 'anon', iss: 'supabase' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('1y').sign(new TextEncoder().encode('another-project-secret-0123456789abcdef'));

    it('the emulator refuses a wrong apikey at the WebSocket handshake as Realtime does: 401 with the reason', async () => {
      const handshake = (apikey: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const socket = new WebSocket(`${running.emulator.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${encodeURIComponent(apikey)}&vsn=2.0.0`, 'phoenix');
          socket.on('unexpected-response', (_request, response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          });
          socket.on('open', () => reject(new Error('the handshake was accepted')));
          socket.on('error', () => undefined);
        });
      expect(await handshake(await wrongAnonKey())).toEqual({ status: 401, body: JSON.stringify({ error: 'Failed to validate JWT signature' }) });
      expect(await handshake('sb_publishable_notakeyofthisproject')).toEqual({ status: 401, body: JSON.stringify({ error: 'The token provided is not a valid JWT' }) });
    });

    it.each([
      ['a legacy anon key of another project', wrongAnonKey],
      ['a publishable key the project does not know', async () => 'sb_publishable_notakeyofthisproject'],
    ])('fails the connection for %s with a reason naming SUPABASE_ANON_KEY, not endless reconnecting', async (_what, key) => {
      const anonKey = await key();
      const misconfigured = await start({ provider: () => ({ anonKey }) });
      const rt = await client(misconfigured);
      await waitFor(() => rt.connection.state === 'failed' || undefined, 'the connection to fail', 15_000);
      expect(rt.connection.error).toMatchObject({ code: 'forbidden' });
      expect(rt.connection.error?.message).toMatch(/SUPABASE_ANON_KEY/);
      const probes = () => misconfigured.emulator.restRequests.filter((request) => request.status === 401).length;
      expect(probes()).toBe(1);
      await sleep(2500);
      expect(rt.connection.state).toBe('failed');
      expect(probes()).toBe(1);
    });

    async function signingKey(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      return {
        privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
        publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
      };
    }

    it('signs with an ES256 signing key that Realtime verifies through the project JWKS by kid', async () => {
      const key = await signingKey('project-key-1');
      const asymmetric = await start({ emulator: { jwks: { keys: [key.publicJwk] } }, provider: () => ({ jwtSigningKey: { jwk: key.privateJwk } }) });
      const rt = await client(asymmetric);
      const chat = rt.channel('chat:es256');
      const got: unknown[] = [];
      chat.subscribe((_event, data) => got.push(data));
      await chat.presence.enter();
      await waitFor(() => chat.live, 'subscribed with an ES256 token');
      await asymmetric.publish('acme', 'chat:es256', 'note', 'signed');
      await waitFor(() => got.length === 1, 'event');
      expect(asymmetric.emulator.joinErrors).toEqual([]);
    });

    it('fails a key id the project does not know as a configuration error, once, with Realtime\'s reason', async () => {
      const known = await signingKey('project-key-1');
      const unknown = await signingKey('rotated-away');
      const stale = await start({ emulator: { jwks: { keys: [known.publicJwk] } }, provider: () => ({ jwtSigningKey: { jwk: unknown.privateJwk } }) });
      const rt = await client(stale);
      const orders = rt.channel('orders:kid');
      const errors: SwitchboardError[] = [];
      orders.on('error', (error) => errors.push(error));
      orders.subscribe(() => undefined);
      await waitFor(() => errors[0], 'the refusal');
      expect(errors[0]).toMatchObject({ code: 'forbidden' });
      expect(errors[0]?.message).toMatch(/SUPABASE_JWT_SIGNING_KEY.*JwtSignerError: .*"rotated-away"/);
      await sleep(2500);
      expect(stale.emulator.joinErrors).toHaveLength(1);
    });

    it('fails a wrong JWT secret as a configuration error, not an endless retry', async () => {
      const wrong = await start({ provider: () => ({ jwtSigningKey: { secret: 'not-the-project-secret-0123456789abcdef' } }) });
      const rt = await client(wrong);
      const orders = rt.channel('orders:secret');
      const errors: SwitchboardError[] = [];
      orders.on('error', (error) => errors.push(error));
      orders.subscribe(() => undefined);
      await waitFor(() => errors[0], 'the refusal');
      expect(errors[0]).toMatchObject({ code: 'forbidden' });
      expect(errors[0]?.message).toMatch(/JwtSignatureError: Failed to validate JWT signature/);
      await sleep(2500);
      expect(wrong.emulator.joinErrors).toHaveLength(1);
    });
  });

  describe('terminating a user', () => {
    it('renews short Realtime JWTs through the BFF, which refuses a terminated user, whose channels then close', async () => {
      const short = await start({ provider: () => ({ realtimeJwtTtlSeconds: 6 }) });
      // The app ends dave's session when it terminates him: it gives the client no new capability token.
      let ended = false;
      const session = await short.session('acme', 'dave');
      const rt = connect({ url: short.bffUrl, session: () => (ended ? 'ended-session' : session) });
      clients.push(rt);
      const chat = rt.channel('chat:terminate');
      const errors: SwitchboardError[] = [];
      chat.on('error', (error) => errors.push(error));
      chat.subscribe(() => undefined);
      await chat.presence.enter();
      await waitFor(() => chat.live, 'subscribed');
      const observer = (await client(short, 'erin')).channel('chat:terminate');
      const heard: string[] = [];
      observer.onWhisper('typing', (_data, from) => heard.push(String(from)));
      observer.subscribe(() => undefined);
      await observer.presence.enter();
      await waitFor(() => observer.live, 'observer subscribed');
      // Longer than a Realtime JWT lives: renewals (at 70 % of its life) keep the channels open.
      await sleep(7000);
      expect(short.emulator.shutdowns).toEqual([]);
      const old = await short.bff.capabilityToken('acme', 'dave');
      ended = true;
      const terminated = await fetch(`${short.bffUrl}/v1/users/dave/terminate`, { method: 'POST', headers: { authorization: `Bearer ${API_KEYS.acme}` } });
      expect(terminated.status).toBe(200);
      // The BFF renews no Realtime JWT for a token minted before the termination ...
      const renewal = await fetch(`${short.bffUrl}/v1/auth/supabase`, { method: 'POST', headers: { authorization: `Bearer ${old.token}` } });
      expect(renewal.status).toBe(401);
      // ... the policies refuse the first whisper after it on the channel already joined ...
      chat.whisper('typing', {});
      const other = (await client(short, 'frank')).channel('chat:terminate');
      other.subscribe(() => undefined);
      await other.presence.enter();
      await waitFor(() => other.live, 'a member not terminated');
      other.whisper('typing', {});
      await waitFor(() => heard.includes('frank'), 'the control whisper');
      expect(heard).toEqual(['frank']);
      // ... and any new join with a JWT signed before it ...
      const raw = new RealtimeClient(`${short.emulator.url.replace('http', 'ws')}/realtime/v1`, { params: { apikey: short.emulator.anonKey }, transport: WebSocket as never });
      sockets.push(raw);
      await raw.setAuth(String(old.provider.accessToken));
      expect(await subscribed(raw.channel(toSupabaseMembersTopic('acme', 'chat:terminate'), { config: { private: true } }))).toMatch(/Unauthorized/);
      // ... and Realtime closes the joined channels when the JWT in hand expires.
      await waitFor(() => short.emulator.shutdowns.find((shutdown) => shutdown.topic === 'chat:acme:terminate'), 'the channel closed', 15_000);
    }, 60_000);
  });
});
