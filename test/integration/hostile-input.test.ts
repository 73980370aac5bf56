/**
 * A hostile client and a hostile publisher against one real BFF with the embedded server:
 * nothing they send may crash the process, answer 5xx, or slow another tenant down.
 * Classes of input are generated with fast-check (bounded runs; `npm run fuzz` runs more).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { MAX_JSON_DEPTH } from '../../src/core/json-limits.js';
import { PUSHER_MAX_CHANNEL_LENGTH, toPusherChannel } from '../../src/core/provider-names.js';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { RawClient, type Frame } from '../helpers/raw-pusher-client.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

let bff: TestBff;
let port: number;

beforeAll(async () => {
  bff = await startBff({ provider: createLocalProvider({}) });
  port = Number(new URL(bff.url).port);
});
afterAll(async () => {
  await bff.close();
});

function nested(depth: number, kind: 'array' | 'object'): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level += 1) value = kind === 'array' ? [value] : { k: value };
  return value;
}

/** `[[[…]]]` as text: building it as a value and stringifying would itself overflow. */
function nestedText(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

async function publish(tenant: string, body: unknown): Promise<Response> {
  return bff.post('/v1/publish', body, ADMIN_KEY, { 'switchboard-tenant': tenant });
}

async function expectProblem(response: Response, status: number, code: string): Promise<{ detail: string }> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  const problem = (await response.json()) as { code: string; detail: string };
  expect(problem.code).toBe(code);
  return problem;
}

/** A connected raw client subscribed (through the BFF's authorization) to a tenant channel. */
async function member(tenant: string, user: string, channel: string): Promise<RawClient> {
  const client = await RawClient.connected(port);
  const { token } = await bff.capabilityToken(tenant, user);
  const providerChannel = toPusherChannel(tenant, channel, channel.startsWith('chat:'));
  const auth = await bff.post('/v1/auth/pusher', { socket_id: client.socketId, channel_name: providerChannel }, token);
  expect(auth.status).toBe(200);
  const reply = await client.subscribe(providerChannel, (await auth.json()) as { auth: string; channel_data?: string });
  expect(reply.event).toBe('pusher_internal:subscription_succeeded');
  return client;
}

/** The other tenant's live feed still works, promptly. */
async function expectOtherTenantServed(watcher: RawClient, marker: number): Promise<void> {
  const started = Date.now();
  const response = await publish('globex', { channel: 'orders:watch', event: 'status', data: { marker } });
  expect(response.status).toBe(200);
  const frame = await watcher.next('status', (candidate: Frame) => (candidate.data as { data?: { marker?: number } }).data?.marker === marker);
  expect(frame.channel).toBe('private-orders.globex.watch');
  expect(Date.now() - started).toBeLessThan(2000);
}

async function expectAlive(client: RawClient): Promise<void> {
  client.send({ event: 'pusher:ping', data: {} });
  await client.next('pusher:pong');
}

describe('hostile WebSocket clients', () => {
  it('refuses a whisper nested 5,000 deep with a pusher:error and keeps serving everyone', async () => {
    const watcher = await member('globex', 'watcher', 'orders:watch');
    const attacker = await member('acme', 'mallory', 'chat:lobby');
    const peer = await member('acme', 'ana', 'chat:lobby');
    attacker.ws.send(`{"event":"client-typing","channel":"presence-chat.acme.lobby","data":${nestedText(5000)}}`);
    const error = await attacker.next('pusher:error');
    expect(error.data).toMatchObject({ code: 4300, message: expect.stringContaining(`deeper than ${MAX_JSON_DEPTH}`) });
    await expectAlive(attacker);
    // A whisper at the limit still goes through.
    attacker.send({ event: 'client-typing', channel: 'presence-chat.acme.lobby', data: nested(MAX_JSON_DEPTH, 'array') });
    await peer.next('client-typing');
    await expectOtherTenantServed(watcher, 1);
  });

  it('survives generated hostile frames and frame sequences: every client gets an answer or a clean close', async () => {
    const watcher = await member('globex', 'watcher2', 'orders:watch');
    const protoKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf');
    const hostileData = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.integer({ min: MAX_JSON_DEPTH - 2, max: 6000 }).map((depth) => nested(depth, 'object')),
      fc.dictionary(protoKeys, fc.jsonValue({ maxDepth: 2 })),
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    const event = fc.oneof(
      fc.constantFrom('pusher:subscribe', 'pusher:unsubscribe', 'pusher:ping', 'pusher:signin', 'client-typing', 'client-x', '__proto__', 'constructor'),
      fc.string({ unit: 'binary', maxLength: 300 }),
    );
    const channel = fc.oneof(
      fc.constantFrom('presence-chat.acme.lobby', 'private-orders.globex.watch', 'presence-chat.globex.lobby', '__proto__', 'private-constructor.acme.x'),
      fc.string({ maxLength: 400 }),
    );
    const frame = fc.oneof(
      fc.record({ event, channel, data: hostileData }).map((value) => {
        try {
          return JSON.stringify(value);
        } catch {
          return '{"event":"client-typing","data":' + nestedText(8000) + '}';
        }
      }),
      fc.integer({ min: 1000, max: 8000 }).map((depth) => `{"event":"pusher:subscribe","data":${nestedText(depth)}}`),
      fc.string({ unit: 'binary', maxLength: 500 }),
    );
    // One attacker connection while the server keeps it; a fresh one after it was closed.
    let attacker: RawClient | undefined;
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
        attacker ??= await member('acme', 'mallory', 'chat:lobby');
        const current = attacker;
        for (const text of frames) current.ws.send(text);
        const outcome = await Promise.race([expectAlive(current).then(() => 'alive' as const), current.closed]);
        if (outcome !== 'alive') {
          expect(outcome.code).toBeGreaterThanOrEqual(4000);
          attacker = undefined;
        }
      }),
      { numRuns: RUNS },
    );
    await expectOtherTenantServed(watcher, 2);
  }, 60_000);
});

describe('hostile publishers', () => {
  it('answers 400, never 500, for channels named after prototype members', async () => {
    for (const name of ['constructor:x', 'toString:1', 'hasOwnProperty:a', 'valueOf:b', '__proto__:x', 'prototype:y', '__defineGetter__:z']) {
      const response = await publish('acme', { channel: name, event: 'status', data: {} });
      expect(response.status, name).toBe(400);
      const problem = (await response.json()) as { code: string };
      expect(['unknown_namespace', 'invalid_request', 'invalid_channel']).toContain(problem.code);
    }
  });

  it('refuses data nested past the limit with a 400 naming it, at every depth up to thousands', async () => {
    expect((await publish('acme', { channel: 'orders:deep', event: 'status', data: nested(MAX_JSON_DEPTH, 'array') })).status).toBe(200);
    for (const [depth, kind] of [[MAX_JSON_DEPTH + 1, 'array'], [2000, 'array'], [3000, 'object'], [20_000, 'array']] as const) {
      const body = kind === 'array' ? `{"channel":"orders:deep","event":"status","data":${nestedText(depth)}}` : JSON.stringify({ channel: 'orders:deep', event: 'status', data: nested(depth, kind) });
      const response = await bff.post('/v1/publish', body, API_KEYS.acme);
      const problem = await expectProblem(response, 400, 'invalid_request');
      expect(JSON.stringify(problem)).toContain(`deeper than ${MAX_JSON_DEPTH}`);
    }
  });

  it('keeps __proto__ keys as data, and pollutes nothing', async () => {
    const data = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as unknown;
    const response = await publish('acme', { channel: 'orders:proto', event: 'status', data });
    expect(response.status).toBe(200);
    const { token } = await bff.capabilityToken('acme', 'ana');
    const history = await fetch(`${bff.url}/v1/history?channel=orders:proto`, { headers: { authorization: `Bearer ${token}` } });
    const text = await history.text();
    expect(text).toContain('"__proto__":{"polluted":true}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts a channel exactly when the provider can carry its name, for tenants of every length', async () => {
    const tenant = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    await fc.assert(
      fc.asyncProperty(tenant, fc.integer({ min: 80, max: 200 }), async (tenantId, length) => {
        const channel = `orders:${'x'.repeat(length - 'orders:'.length)}`;
        const providerLength = `private-orders.${tenantId}.`.length + length - 'orders:'.length;
        const response = await publish(tenantId, { channel, event: 'status', data: 1 });
        if (length > 200) return;
        if (providerLength <= PUSHER_MAX_CHANNEL_LENGTH) {
          expect(response.status).toBe(200);
        } else {
          const problem = await expectProblem(response, 400, 'invalid_channel');
          expect(problem.detail).toContain(`may have at most ${PUSHER_MAX_CHANNEL_LENGTH - (providerLength - length)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('never answers 5xx to generated publish bodies', async () => {
    const hostileString = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.constantFrom('__proto__', 'constructor:x', 'orders:' + 'x'.repeat(250), 'chat:\u0000', 'orders:💥', ''),
    );
    const body = fc.oneof(
      fc.record({ channel: hostileString, event: hostileString, data: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }),
      fc.record({ messages: fc.array(fc.record({ channel: hostileString, event: fc.constant('status'), data: fc.jsonValue({ maxDepth: 2 }) }), { maxLength: 120 }) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const response = await publish('acme', value);
        expect(response.status).toBeLessThan(500);
        if (response.status >= 400) expect(((await response.json()) as { code?: string }).code).toEqual(expect.any(String));
        else await response.arrayBuffer();
      }),
      { numRuns: RUNS },
    );
  });
});
