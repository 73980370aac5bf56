/**
 * Hosted Pusher through the conformance suite (against a local Pusher-compatible host),
 * once on a clean network and once with the host failing 30 % of publish requests, plus
 * the exactly-once check a subscriber of the host sees through partial batch failures.
 */
import { describe, expect, it } from 'vitest';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { API_KEYS, startBff } from '../helpers/bff.js';
import { grant, onCleanup } from '../helpers/local-harness.js';
import { RawClient, type Frame } from '../helpers/raw-pusher-client.js';
import { createPusherProvider } from '../../providers/pusher/index.js';
import { startPusherHost, pusherHarness, type PusherHostOptions } from './pusher.harness.js';
import { defineConformanceSuite, waitFor } from './suite.js';

defineConformanceSuite(pusherHarness());
defineConformanceSuite(pusherHarness({ failRate: 0.3 }, 'pusher (host failing 30 % of publishes)'));

const CHANNELS = ['orders:1', 'orders:2', 'orders:3', 'dashboard:sales', 'notifications:ana'];

/** Publishes 200 events in batches of 20 through a BFF on a flaky host; returns how often the host's subscriber saw each one. */
async function publishThroughFlakyHost(hostOptions: PusherHostOptions) {
  const host = await startPusherHost(hostOptions);
  onCleanup(() => host.close());
  const bff = await startBff({
    provider: createPusherProvider({ appId: 'hosted-app', key: 'hosted-key', secret: 'hosted-secret', cluster: 'local', host: '127.0.0.1', port: host.apiPort, useTLS: false }),
    delivery: { backoff: { baseMs: 10, capMs: 100 }, breaker: { failureThreshold: 1000, openMs: 100 } },
  });
  onCleanup(() => bff.close());
  const watcher = await RawClient.connected(host.port, '/app/hosted-key?protocol=7');
  for (const channel of CHANNELS) {
    const name = toPusherChannel('acme', channel, false);
    const auth = host.provider.authorizeChannel({ grant: grant('acme', 'watcher'), socketId: watcher.socketId, channel, providerChannel: name, presence: false, clientEvents: [] });
    expect((await watcher.subscribe(name, auth)).event).toBe('pusher_internal:subscription_succeeded');
  }
  for (let batch = 0; batch < 10; batch += 1) {
    const messages = Array.from({ length: 20 }, (_, index) => ({ channel: CHANNELS[(batch + index) % CHANNELS.length] as string, event: 'n', data: batch * 20 + index }));
    const response = await bff.post('/v1/publish', { messages }, API_KEYS.acme);
    expect(response.status).toBeLessThan(300);
  }
  const seen = new Map<string, number>();
  const count = (frame: Frame) => {
    if (frame.event !== 'n') return;
    const envelope = frame.data as { id: string };
    seen.set(envelope.id, (seen.get(envelope.id) ?? 0) + 1);
  };
  await waitFor(() => {
    for (const frame of watcher.frames.splice(0)) count(frame);
    return seen.size === 200;
  }, 'all 200 events at the host', 20_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const frame of watcher.frames.splice(0)) count(frame);
  return { host, seen };
}

describe('hosted Pusher provider through partial failures', () => {
  it('loses nothing and duplicates nothing when the host refuses 30 % of batch requests', async () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const { host, seen } = await publishThroughFlakyHost({ failRate: 0.3, random });
    expect(host.counts.failed).toBeGreaterThan(0);
    expect([...seen.values()].filter((times) => times > 1)).toEqual([]);
  }, 30_000);

  it('loses nothing when the host takes events but the answer is lost; only those ambiguous chunks repeat', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const { host, seen } = await publishThroughFlakyHost({ ambiguousRate: 0.2, random });
    expect(host.counts.ambiguous).toBeGreaterThan(0);
    const repeats = [...seen.values()].reduce((sum, times) => sum + times - 1, 0);
    // Each ambiguous answer covers one chunk of at most 10 events.
    expect(repeats).toBeLessThanOrEqual(host.counts.ambiguous * 10);
  }, 30_000);
});
