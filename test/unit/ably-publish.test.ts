/**
 * The Ably provider's publish contract (providers/ably/publish.ts): one spec per envelope
 * with the envelope id, Ably's limits enforced before the call, and failures reported as
 * ProviderPublishError {taken, permanent} so the pipeline never resends what Ably took and
 * never retries forever what it refuses.
 */
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/core/envelope.js';
import { ProviderPublishError } from '../../providers/publish-error.js';
import { ABLY_MAX_BATCH_BODY_BYTES, publishBatch, toAblyMessage, type AblyBatchSpec, type SendBatch } from '../../providers/ably/publish.js';
import { createAblyProvider } from '../../providers/ably/index.js';

function envelope(index: number, data: Envelope['data'] = { n: index }, channel = 'orders:1'): Envelope {
  return { id: `id-${index}`, channel, event: 'status', data, seq: index + 1, ts: 1_700_000_000_000 };
}

function spec(index: number, channel = `orders:acme:${index}`, data?: Envelope['data']): AblyBatchSpec {
  return { channels: [channel], messages: [toAblyMessage(envelope(index, data))] };
}

const ok = (specs: AblyBatchSpec[]) => specs.map((s) => ({ successCount: 1, failureCount: 0, results: [{ channel: s.channels[0], messageId: 'm', serials: ['s'] }] }));

function recording(answer: (specs: AblyBatchSpec[], call: number) => unknown): { send: SendBatch; calls: AblyBatchSpec[][] } {
  const calls: AblyBatchSpec[][] = [];
  return {
    calls,
    send: async (specs) => {
      calls.push(specs);
      const result = answer(specs, calls.length - 1);
      if (result instanceof Error || (typeof result === 'object' && result !== null && 'statusCode' in result && !Array.isArray(result))) throw result;
      return result;
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<ProviderPublishError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ProviderPublishError);
  return error as ProviderPublishError;
}

const signal = () => new AbortController().signal;

describe('Ably publish', () => {
  it('sends one spec per envelope, the envelope id as message id, JSON-encoded, in one call', async () => {
    const { send, calls } = recording(ok);
    await publishBatch([spec(0), spec(1)], send, signal());
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]).toEqual({
      channels: ['orders:acme:0'],
      messages: [{ id: 'id-0', name: 'status', encoding: 'json', data: JSON.stringify(envelope(0)) }],
    });
  });

  it('reports the accepted prefix and a permanent refusal when a channel result fails with a 4xx', async () => {
    const { send } = recording((specs) =>
      specs.map((s, index) =>
        index === 1
          ? { successCount: 0, failureCount: 1, results: [{ channel: s.channels[0], error: { code: 40160, statusCode: 403, message: 'denied' } }] }
          : { successCount: 1, failureCount: 0, results: [{ channel: s.channels[0], messageId: 'm' }] },
      ),
    );
    const error = await failure(publishBatch([spec(0), spec(1), spec(2)], send, signal()));
    expect(error).toMatchObject({ taken: 1, permanent: true });
  });

  it.each([
    [429, 42910, false],
    [500, 50000, false],
    [408, 40800, false],
    [401, 40101, false],
    [400, 40000, true],
    [413, 40009, true],
  ])('classifies a whole-request HTTP %i as permanent=%s', async (statusCode, code, permanent) => {
    const { send } = recording(() => Object.assign(new Error('refused'), { statusCode, code }));
    const result = publishBatch([spec(0)], send, signal());
    if (permanent) expect(await failure(result)).toMatchObject({ taken: 0, permanent: true });
    else await expect(result).rejects.not.toBeInstanceOf(ProviderPublishError);
  });

  it('sends what precedes a message it refuses before the call, then reports that message as permanent', async () => {
    const { send, calls } = recording(ok);
    const tooBig = new Error('Event id-2 is over the limit');
    const error = await failure(publishBatch([spec(0), spec(1), tooBig, spec(3)], send, signal()));
    expect(error).toMatchObject({ taken: 2, permanent: true, message: 'Event id-2 is over the limit' });
    expect(calls.flat().map((s) => s.messages[0].id)).toEqual(['id-0', 'id-1']);
  });

  it('splits a batch over 2 MiB or 100 channels into sequential calls and counts what earlier calls took', async () => {
    const big = 'x'.repeat(60 * 1024);
    const specs = Array.from({ length: 40 }, (_, index) => spec(index, `orders:acme:${index}`, { big }));
    const { send, calls } = recording((chunk, call) =>
      call === 1 ? Object.assign(new Error('unavailable'), { statusCode: 503, code: 50300 }) : ok(chunk),
    );
    const error = await failure(publishBatch(specs, send, signal()));
    expect(calls.length).toBe(2);
    for (const chunk of calls) expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThanOrEqual(ABLY_MAX_BATCH_BODY_BYTES);
    expect(error).toMatchObject({ taken: calls[0]?.length, permanent: false });

    const many = Array.from({ length: 150 }, (_, index) => spec(index));
    const counted = recording(ok);
    await publishBatch(many, counted.send, signal());
    expect(counted.calls.map((chunk) => new Set(chunk.map((s) => s.channels[0])).size)).toEqual([100, 50]);
  });

  it('treats an unreadable answer as nothing known taken (ids make the resend harmless)', async () => {
    const { send } = recording(() => ({ unexpected: true }));
    expect(await failure(publishBatch([spec(0)], send, signal()))).toMatchObject({ taken: 0, permanent: false });
  });

  it('honours the abort signal while a call hangs', async () => {
    const controller = new AbortController();
    const hanging: SendBatch = () => new Promise(() => undefined);
    const result = publishBatch([spec(0)], hanging, controller.signal);
    controller.abort(new Error('timeout'));
    await expect(result).rejects.toThrow('timeout');
  });

  it('refuses names and payloads Ably cannot carry: channelName throws invalid_channel, limits reflect 64 KiB', () => {
    const provider = createAblyProvider({ apiKey: 'app.key:secret', tls: true });
    expect(provider.limits.maxPayloadBytes).toBe(64 * 1024);
    // The envelope and the name count too, for the largest envelope the event can travel in.
    const event = { channel: 'orders:1', event: '"'.repeat(200), data: 'x'.repeat(64 * 1024 - 800) };
    expect(provider.payloadProblem?.(event)).toMatch(/over Ably's message size limit of 65536/);
    expect(provider.payloadProblem?.({ ...event, event: 'status' })).toBeUndefined();
    expect(provider.channelName('acme', 'orders:1', false)).toBe('orders:acme:1');
    expect(() => provider.channelName('acme', `orders:${'x'.repeat(200)}`, false)).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
    expect(() => provider.channelName('acme', '[meta]x', false)).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
    expect(createAblyProvider({ apiKey: 'app.key:secret', tls: true, maxMessageBytes: 256 * 1024 }).limits.maxPayloadBytes).toBe(256 * 1024);
  });

  it('reports an envelope over the message size as permanent at its index, after sending the ones before', async () => {
    const provider = createAblyProvider({ apiKey: 'app.key:secret', endpoint: '127.0.0.1', port: 1, tls: false });
    const messages = [{ tenant: 'acme', envelope: envelope(0, { big: 'x'.repeat(70 * 1024) }) }];
    const error = await failure(provider.publish(messages, signal()));
    expect(error).toMatchObject({ taken: 0, permanent: true });
    expect(error.message).toContain('message size limit of 65536');
  });
});
