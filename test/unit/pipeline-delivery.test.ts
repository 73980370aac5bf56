/**
 * The publish pipeline against a scripted provider: outages lose nothing and keep
 * per-channel order, the breaker opens and half-opens, pending events survive a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProviderPublishError } from '../../providers/publish-error.js';
import type { ProviderMessage, ServerProvider } from '../../providers/types.js';
import type { Namespaces } from '../../src/core/namespaces.js';
import type { DeliveryFailure } from '../../src/server/publish/delivery.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { EventHub } from '../../src/server/log/hub.js';
import { MemoryEventStore } from '../../src/server/log/memory-store.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { SqliteEventStore } from '../../src/server/log/sqlite-store.js';
import type { EventStore } from '../../src/server/log/store.js';
import { createLogger } from '../../src/server/logger.js';
import type { DeliveryTuning } from '../../src/server/publish/delivery.js';
import { createPublishPipeline, type DeliveringPipeline, type PublishMessage } from '../../src/server/publish/pipeline.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

type Mode = 'up' | 'down' | 'hang';

/** Records what it takes and flags any event that arrives out of per-channel order, twice, or after a gap. */
class ScriptedProvider implements ServerProvider {
  readonly name = 'local' as const;
  readonly limits = { maxPayloadBytes: 64 * 1024, maxBatchSize: 10 };
  mode: Mode = 'up';
  /** Calls carrying this tenant's events hang until aborted, whatever `mode` says. */
  hangTenant: string | undefined;
  /** When set, decides per call whether it fails (overrides `mode` 'up'). */
  flaky: (() => boolean) | undefined;
  /** When set, the provider takes this many leading messages, then fails the call (retryably). */
  partial: ((count: number) => number | undefined) | undefined;
  /** Messages the provider refuses for good (ProviderPublishError, permanent). */
  refuse: ((message: ProviderMessage) => boolean) | undefined;
  calls = 0;
  /** Hanging calls that ended by their abort (the pipeline's timeout). */
  aborted = 0;
  readonly received: ProviderMessage[] = [];
  readonly violations: string[] = [];
  private readonly lastSeq = new Map<string, number>();

  channelName(tenant: string, channel: string): string {
    return `${tenant}.${channel}`;
  }

  async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
    this.calls += 1;
    if (this.mode === 'down' || this.flaky?.()) throw new Error('provider down');
    if (this.mode === 'hang' || messages.some((message) => message.tenant === this.hangTenant)) {
      await new Promise((_, reject) =>
        signal.addEventListener(
          'abort',
          () => {
            this.aborted += 1;
            reject(new Error('aborted'));
          },
          { once: true },
        ),
      );
    }
    const cut = this.partial?.(messages.length);
    for (const [index, message] of messages.entries()) {
      if (cut !== undefined && index === cut) throw new ProviderPublishError('failed halfway', index, false);
      if (this.refuse?.(message)) throw new ProviderPublishError('refused', index, true);
      const key = `${message.tenant}/${message.envelope.channel}`;
      const previous = this.lastSeq.get(key) ?? 0;
      if (message.envelope.seq !== previous + 1) this.violations.push(`${key}: got seq ${message.envelope.seq} after ${previous}`);
      this.lastSeq.set(key, Math.max(previous, message.envelope.seq));
      this.received.push(message);
    }
  }

  seqs(tenant: string, channel: string): number[] {
    return this.received.filter((m) => m.tenant === tenant && m.envelope.channel === channel).map((m) => m.envelope.seq);
  }

  async clientConfig(): Promise<never> {
    throw new Error('not used');
  }

  async close(): Promise<void> {}
}

const FAST: Partial<DeliveryTuning> = {
  providerTimeoutMs: 200,
  backoff: { baseMs: 2, capMs: 10 },
  breaker: { failureThreshold: 1000, openMs: 50 },
  sweepMs: 60_000,
  closeGraceMs: 50,
};

const logger = createLogger('silent');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function pipelineFor(
  store: EventStore,
  provider: ServerProvider,
  tuning: Partial<DeliveryTuning> = FAST,
  hub?: EventHub,
  extra: { namespaces?: Namespaces; failures?: DeliveryFailure[] } = {},
): DeliveringPipeline {
  const failures = extra.failures;
  const observer = failures && { delivered: () => undefined, failed: () => undefined, undeliverable: (failure: DeliveryFailure) => void failures.push(failure) };
  const pipeline = createPublishPipeline({ store, provider, namespaces: extra.namespaces ?? DEFAULT_NAMESPACES, logger, tuning, hub, ...(observer ? { observer } : {}) });
  cleanups.push(() => pipeline.close());
  return pipeline;
}

function memoryStore(): EventStore {
  const store = new MemoryEventStore();
  cleanups.push(() => store.close());
  return store;
}

const msg = (channel: string, data: number, id?: string): PublishMessage => ({ channel, event: 'status', data, ...(id ? { id } : {}) });

/** Deterministic pseudo-random numbers (mulberry32). */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('publish pipeline', () => {
  it('delivers within the request, and answers a repeated id as duplicate without publishing again', async () => {
    const provider = new ScriptedProvider();
    const pipeline = pipelineFor(memoryStore(), provider);
    const [first] = await pipeline.publish('acme', [msg('orders:1', 1, 'order-1-paid')]);
    expect(first).toEqual({ id: 'order-1-paid', seq: 1, status: 'delivered' });
    const [again] = await pipeline.publish('acme', [msg('orders:1', 99, 'order-1-paid')]);
    expect(again).toEqual({ id: 'order-1-paid', seq: 1, status: 'duplicate' });
    expect(provider.calls).toBe(1);
    const batch = await pipeline.publish('acme', [msg('orders:1', 2), msg('orders:2', 1), msg('orders:1', 3)]);
    expect(batch.map((outcome) => [outcome.seq, outcome.status])).toEqual([[2, 'delivered'], [1, 'delivered'], [3, 'delivered']]);
    expect(provider.calls).toBe(2);
  });

  it('loses nothing and keeps per-channel order through an outage in the middle of a run of publishes', async () => {
    const provider = new ScriptedProvider();
    const store = memoryStore();
    const pipeline = pipelineFor(store, provider);
    const channels = ['orders:1', 'orders:2', 'dashboard:sales'];
    const statuses: string[] = [];
    for (let index = 0; index < 60; index += 1) {
      if (index === 10) provider.mode = 'down';
      if (index === 40) provider.mode = 'up';
      const channel = channels[index % channels.length] as string;
      const outcomes = index % 7 === 0
        ? await pipeline.publish('acme', [msg(channel, index), msg('orders:1', index + 1000)])
        : await pipeline.publish('acme', [msg(channel, index)]);
      statuses.push(...outcomes.map((outcome) => outcome.status));
    }
    expect(statuses).toContain('accepted');
    const total = statuses.length;
    await vi.waitFor(() => expect(provider.received).toHaveLength(total), { timeout: 5000, interval: 5 });
    expect(provider.violations).toEqual([]);
    for (const channel of channels) {
      const last = await store.lastSeq('acme', channel);
      expect(provider.seqs('acme', channel)).toEqual(Array.from({ length: last }, (_, index) => index + 1));
      expect(await store.deliveredSeq('acme', channel)).toBe(last);
    }
    expect(await store.pendingChannels()).toEqual([]);
  });

  it('keeps order with many concurrent publishes against a provider that fails at random', async () => {
    const provider = new ScriptedProvider();
    const random = seeded(7);
    provider.flaky = () => random() < 0.4;
    const store = memoryStore();
    const pipeline = pipelineFor(store, provider, { ...FAST, concurrency: 4 });
    const channels = ['orders:a', 'orders:b', 'orders:c', 'chat:room', 'notifications:ana'];
    await Promise.all(
      Array.from({ length: 150 }, (_, index) => pipeline.publish('acme', [msg(channels[index % channels.length] as string, index)])),
    );
    await vi.waitFor(() => expect(provider.received).toHaveLength(150), { timeout: 10_000, interval: 5 });
    expect(provider.violations).toEqual([]);
    for (const channel of channels) expect(provider.seqs('acme', channel)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
  });

  it('one channel refused for good never holds up another tenant: the refusals are recorded and not retried', async () => {
    const provider = new ScriptedProvider();
    provider.refuse = (message) => message.tenant === 'evil';
    const failures: DeliveryFailure[] = [];
    const pipeline = pipelineFor(memoryStore(), provider, { ...FAST, breaker: { failureThreshold: 3, openMs: 10_000 } }, undefined, { failures });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        index % 2 ? pipeline.publish('evil', [msg('orders:poison', index)]) : pipeline.publish('acme', [msg(`orders:${index % 3}`, index)]),
      ),
    );
    const acme = outcomes.filter((_, index) => index % 2 === 0).flat();
    expect(acme.every((outcome) => outcome.status === 'delivered')).toBe(true);
    // Each refused event is answered as such within its own request: the refusal is known at once.
    expect(outcomes.filter((_, index) => index % 2 === 1).flat().map((outcome) => outcome.status)).toEqual(Array.from({ length: 20 }, () => 'refused'));
    await vi.waitFor(() => expect(failures).toHaveLength(20), { timeout: 5000, interval: 5 });
    expect(failures.map((failure) => failure.seq)).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
    expect(failures[0]).toMatchObject({ tenant: 'evil', channel: 'orders:poison', reason: 'refused' });
    expect(pipeline.circuitState).toBe('closed');
    const calls = provider.calls;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(provider.calls).toBe(calls);
    expect(provider.violations).toEqual([]);
    const [later] = await pipeline.publish('acme', [msg('orders:later', 1)]);
    expect(later?.status).toBe('delivered');
  });

  it('never resends what the provider took before failing halfway', async () => {
    const provider = new ScriptedProvider();
    const random = seeded(11);
    provider.partial = (count) => (random() < 0.5 ? Math.floor(random() * count) : undefined);
    const store = memoryStore();
    const pipeline = pipelineFor(store, provider, { ...FAST, concurrency: 2 });
    const channels = ['orders:a', 'orders:b', 'dashboard:c'];
    await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        pipeline.publish('acme', Array.from({ length: 4 }, (__, offset) => msg(channels[(index + offset) % 3] as string, index))),
      ),
    );
    await vi.waitFor(() => expect(provider.received).toHaveLength(120), { timeout: 10_000, interval: 5 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(provider.received).toHaveLength(120);
    expect(provider.violations).toEqual([]);
  });

  it('skips logged events the provider can no longer take (namespace removed) and delivers the rest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-pipeline-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'events.sqlite');
    const down = new ScriptedProvider();
    down.mode = 'down';
    const withLegacy = { ...DEFAULT_NAMESPACES, legacy: { presence: false, history: false as const, clientEvents: [], maxPayloadBytes: 1024 } };
    const firstStore = new SqliteEventStore(file);
    const first = createPublishPipeline({ store: firstStore, provider: down, namespaces: withLegacy, logger, tuning: FAST });
    await first.publish('acme', [msg('legacy:1', 1), msg('orders:1', 2), msg('legacy:1', 3)]);
    await first.close();
    await firstStore.close();

    const provider = new ScriptedProvider();
    const store = new SqliteEventStore(file);
    cleanups.push(() => store.close());
    const failures: DeliveryFailure[] = [];
    pipelineFor(store, provider, FAST, undefined, { failures });
    await vi.waitFor(() => expect(failures).toHaveLength(2), { timeout: 5000, interval: 5 });
    expect(failures[0]?.reason).toMatch(/Unknown namespace "legacy"/);
    await vi.waitFor(() => expect(provider.seqs('acme', 'orders:1')).toEqual([1]), { timeout: 5000, interval: 5 });
    await vi.waitFor(async () => expect(await store.pendingChannels()).toEqual([]), { timeout: 5000, interval: 5 });
  });

  it('answers accepted when the provider hangs past the timeout, and delivers once it is back', async () => {
    const provider = new ScriptedProvider();
    provider.mode = 'hang';
    const pipeline = pipelineFor(memoryStore(), provider, { ...FAST, providerTimeoutMs: 50 });
    const [outcome] = await pipeline.publish('acme', [msg('orders:1', 1)]);
    expect(outcome?.status).toBe('accepted');
    provider.mode = 'up';
    await vi.waitFor(() => expect(provider.seqs('acme', 'orders:1')).toEqual([1]), { timeout: 5000, interval: 5 });
  });

  it("one tenant's hanging provider calls never delay another tenant: slots, backoff and breaker are per tenant", async () => {
    const provider = new ScriptedProvider();
    provider.hangTenant = 'slow';
    // Default slots; a breaker that opens after two timeouts and stays open for the test.
    const pipeline = pipelineFor(memoryStore(), provider, { ...FAST, providerTimeoutMs: 3000, breaker: { failureThreshold: 2, openMs: 60_000 } });
    // Four channels, a full batch each, started one after the other: four hanging calls.
    const slow: Promise<unknown>[] = [];
    for (let channel = 0; channel < 4; channel++) {
      slow.push(pipeline.publish('slow', Array.from({ length: 10 }, (_, index) => msg(`orders:${channel}`, index))));
      await vi.waitFor(() => expect(provider.calls).toBe(channel + 1), { timeout: 2000, interval: 2 });
    }
    const [whileHanging] = await pipeline.publish('acme', [msg('orders:1', 1)]);
    expect(whileHanging?.status).toBe('delivered');
    // Delivered while every one of the slow tenant's calls still hung, not after their timeouts.
    expect(provider.aborted).toBe(0);

    // The slow tenant's calls time out and open its breaker; others are not held back.
    await Promise.all(slow);
    await vi.waitFor(() => expect(pipeline.circuitState).toBe('open'), { timeout: 5000, interval: 5 });
    const [afterTimeouts] = await pipeline.publish('acme', [msg('orders:1', 2)]);
    expect(afterTimeouts?.status).toBe('delivered');
    expect(provider.seqs('acme', 'orders:1')).toEqual([1, 2]);
    expect(provider.received.filter((message) => message.tenant === 'slow')).toEqual([]);
  });

  it('opens the breaker after repeated failures, stops calling, then lets one trial through (half-open)', async () => {
    const provider = new ScriptedProvider();
    provider.mode = 'down';
    const pipeline = pipelineFor(memoryStore(), provider, { ...FAST, breaker: { failureThreshold: 3, openMs: 300 } });
    expect(pipeline.circuitState).toBe('closed');
    await pipeline.publish('acme', [msg('orders:1', 1)]);
    await vi.waitFor(() => expect(pipeline.circuitState).toBe('open'), { timeout: 2000, interval: 2 });
    expect(provider.calls).toBe(3);

    const [whileOpen] = await pipeline.publish('acme', [msg('orders:2', 2)]);
    expect(whileOpen?.status).toBe('accepted');
    expect(provider.calls).toBe(3);

    // After openMs one trial call goes out (both channels in one batch); it fails and re-opens the circuit.
    await vi.waitFor(() => expect(provider.calls).toBe(4), { timeout: 2000, interval: 2 });
    expect(pipeline.circuitState).toBe('open');

    provider.mode = 'up';
    await vi.waitFor(() => expect(provider.received).toHaveLength(2), { timeout: 2000, interval: 2 });
    expect(provider.calls).toBe(5);
    expect(pipeline.circuitState).toBe('closed');
    const [after] = await pipeline.publish('acme', [msg('orders:1', 3)]);
    expect(after?.status).toBe('delivered');
  });

  it('close() stops retrying and returns promptly even while a provider call hangs', async () => {
    const provider = new ScriptedProvider();
    provider.mode = 'hang';
    const pipeline = createPublishPipeline({ store: memoryStore(), provider, namespaces: DEFAULT_NAMESPACES, logger, tuning: FAST });
    const publishing = pipeline.publish('acme', [msg('orders:1', 1)]);
    await vi.waitFor(() => expect(provider.calls).toBe(1), { interval: 1 });
    const started = Date.now();
    await pipeline.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await publishing)[0]?.status).toBe('accepted');
    provider.mode = 'up';
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(provider.calls).toBe(1);
  });

  it('resumes pending events in order after a restart (sqlite)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-pipeline-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'events.sqlite');

    const down = new ScriptedProvider();
    down.mode = 'down';
    const firstStore = new SqliteEventStore(file);
    const first = createPublishPipeline({ store: firstStore, provider: down, namespaces: DEFAULT_NAMESPACES, logger, tuning: FAST });
    for (let index = 1; index <= 12; index += 1) {
      const [outcome] = await first.publish('acme', [msg(index % 2 ? 'orders:odd' : 'orders:even', index)]);
      expect(outcome?.status).toBe('accepted');
    }
    await first.close();
    await firstStore.close();

    const provider = new ScriptedProvider();
    const store = new SqliteEventStore(file);
    cleanups.push(() => store.close());
    const pipeline = pipelineFor(store, provider);
    const [fresh] = await pipeline.publish('acme', [msg('orders:odd', 13)]);
    expect(fresh?.seq).toBe(7);
    await vi.waitFor(() => expect(provider.received).toHaveLength(13), { timeout: 5000, interval: 5 });
    expect(provider.violations).toEqual([]);
    expect(provider.seqs('acme', 'orders:odd')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(provider.seqs('acme', 'orders:even')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(provider.received.filter((m) => m.envelope.channel === 'orders:odd').map((m) => m.envelope.data)).toEqual([1, 3, 5, 7, 9, 11, 13]);
    expect(await store.pendingChannels()).toEqual([]);
  });
});

const redisDecision = await redisCheck();

describe.skipIf(redisDecision === 'skip')('publish pipeline on redis (two BFF nodes)', () => {
  it('delivers each channel in order when two nodes publish to it concurrently, and resumes after both restart', async () => {
    requireService(redisDecision, 'Redis');
    const keyPrefix = `sbtest:${process.pid}:${Date.now()}:pipeline:`;
    cleanups.push(() => deleteRedisKeys(REDIS_URL, keyPrefix));
    const provider = new ScriptedProvider();
    const startNode = async () => {
      const store = new RedisEventStore({ url: REDIS_URL, keyPrefix });
      const hub = new EventHub(logger);
      hub.watch(store);
      const pipeline = createPublishPipeline({ store, provider, namespaces: DEFAULT_NAMESPACES, logger, tuning: FAST, hub });
      const stop = async () => {
        await pipeline.close();
        await hub.close();
        await store.close();
      };
      cleanups.push(stop);
      return { pipeline, stop };
    };
    const a = await startNode();
    const b = await startNode();
    await Promise.all(
      Array.from({ length: 60 }, (_, index) => (index % 2 ? a : b).pipeline.publish('acme', [msg(index % 3 ? 'orders:1' : 'orders:2', index)])),
    );
    await vi.waitFor(() => expect(provider.received).toHaveLength(60), { timeout: 10_000, interval: 5 });
    expect(provider.violations).toEqual([]);

    provider.mode = 'down';
    await a.pipeline.publish('acme', [msg('orders:1', 100)]);
    await b.pipeline.publish('acme', [msg('orders:2', 101)]);
    await a.stop();
    await b.stop();
    provider.mode = 'up';
    await startNode();
    await vi.waitFor(() => expect(provider.received).toHaveLength(62), { timeout: 10_000, interval: 5 });
    expect(provider.violations).toEqual([]);
  });

  it('answers delivered on the node that does not hold the lease, and takes over a dead node\'s channel within seconds', async () => {
    requireService(redisDecision, 'Redis');
    const keyPrefix = `sbtest:${process.pid}:${Date.now()}:lease:`;
    cleanups.push(() => deleteRedisKeys(REDIS_URL, keyPrefix));
    const provider = new ScriptedProvider();
    const tuning = { ...FAST, providerTimeoutMs: 1000, leaseMs: 1500, sweepMs: 250 };
    const nodes = await Promise.all(
      [0, 1].map(async () => {
        const store = new RedisEventStore({ url: REDIS_URL, keyPrefix });
        cleanups.push(() => store.close());
        const hub = new EventHub(logger);
        hub.watch(store);
        cleanups.push(() => hub.close());
        return { store, pipeline: pipelineFor(store, provider, tuning, hub) };
      }),
    );
    const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    expect((await a.pipeline.publish('acme', [msg('orders:1', 1)]))[0]?.status).toBe('delivered');
    // a holds the channel's lease now; b's publish is delivered by a, and b says so.
    expect((await b.pipeline.publish('acme', [msg('orders:1', 2)]))[0]?.status).toBe('delivered');

    // A node that died holding a lease: nobody may deliver until it expires, then a survivor does.
    await a.store.claimDelivery('acme', 'orders:2', 'dead-node', tuning.leaseMs);
    const started = Date.now();
    await b.pipeline.publish('acme', [msg('orders:2', 1)]);
    await vi.waitFor(() => expect(provider.seqs('acme', 'orders:2')).toEqual([1]), { timeout: 5000, interval: 10 });
    const takeover = Date.now() - started;
    expect(takeover).toBeGreaterThanOrEqual(tuning.leaseMs - 100);
    expect(takeover).toBeLessThan(tuning.leaseMs + tuning.sweepMs + 1000);
    expect(provider.violations).toEqual([]);
  });
});
