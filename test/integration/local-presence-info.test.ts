/**
 * A user's presence info on the local server follows its latest signed authorization, also
 * while another tab of the same user keeps the member in the channel: a (re)subscription
 * with other info shows the new info to everyone (member_removed + member_added, as Pusher
 * clients have no update event), to later subscribers and in the presence API, without a
 * lifecycle join or leave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/envelope.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { signChannel } from '../../providers/pusher-protocol/index.js';
import type { WebhookEvent } from '../../providers/types.js';
import { eventually } from '../helpers/eventually.js';
import { startLocal } from '../helpers/local-harness.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';
import { KEY, RawClient, SECRET, type Frame } from '../helpers/raw-pusher-client.js';

const CHANNEL = toPusherChannel('acme', 'chat:1', true);

function presenceAuth(client: RawClient, user: string, info: JsonValue): { auth: string; channel_data: string } {
  const channelData = JSON.stringify({ user_id: user, user_info: info });
  return { auth: signChannel({ key: KEY, secret: SECRET }, client.socketId, CHANNEL, channelData).auth, channel_data: channelData };
}

async function joined(port: number, user: string, info: JsonValue): Promise<{ client: RawClient; presence: unknown }> {
  const client = await RawClient.connected(port);
  const frame = await client.subscribe(CHANNEL, presenceAuth(client, user, info));
  expect(frame.event).toBe('pusher_internal:subscription_succeeded');
  return { client, presence: (frame.data as { presence: unknown }).presence };
}

/** The member frames `client` got about `user`, in order, once `count` arrived. */
async function memberFrames(client: RawClient, user: string, count: number): Promise<Frame[]> {
  const about = () =>
    client.frames.filter((frame) => frame.event.startsWith('pusher_internal:member_') && (frame.data as { user_id: string }).user_id === user);
  await eventually(() => about().length >= count, 10_000);
  return about();
}

function change(name: string): Frame[] {
  return [
    { event: 'pusher_internal:member_removed', channel: CHANNEL, data: { user_id: 'ana' } },
    { event: 'pusher_internal:member_added', channel: CHANNEL, data: { user_id: 'ana', user_info: { name } } },
  ];
}
const CHANGE = change('Ana B.');

describe('local presence: a member with several tabs gets new info', () => {
  it.each([
    ['unsubscribes and subscribes again (pusher-js refresh)', true],
    ['subscribes again on the same connection', false],
  ])('shows the new info to the others once when one tab %s', async (_how, unsubscribeFirst) => {
    const { provider, port } = await startLocal({ key: KEY, secret: SECRET });
    const lifecycle: WebhookEvent[] = [];
    provider.onLifecycle?.((event) => lifecycle.push(event));
    const first = await joined(port, 'ana', { name: 'Ana' });
    const second = await joined(port, 'ana', { name: 'Ana' });
    const watcher = await joined(port, 'bob', { name: 'Bob' });
    const before = lifecycle.length;

    if (unsubscribeFirst) first.client.send({ event: 'pusher:unsubscribe', data: { channel: CHANNEL } });
    const again = await first.client.subscribe(CHANNEL, presenceAuth(first.client, 'ana', { name: 'Ana B.' }));
    expect((again.data as { presence: { hash: Record<string, unknown> } }).presence.hash.ana).toEqual({ name: 'Ana B.' });

    expect(await memberFrames(watcher.client, 'ana', 2)).toEqual(CHANGE);
    expect(await memberFrames(second.client, 'ana', 2)).toEqual(CHANGE);
    const later = await joined(port, 'cy', {});
    expect(later.presence).toMatchObject({ count: 3, hash: { ana: { name: 'Ana B.' }, bob: { name: 'Bob' } } });
    expect(await provider.presence('acme', 'chat:1')).toEqual(expect.arrayContaining([{ id: 'ana', info: { name: 'Ana B.' } }]));
    // An info change is no join or leave: the lifecycle saw only cy joining.
    await eventually(() => lifecycle.length > before);
    expect(lifecycle.slice(before)).toEqual([{ kind: 'member_added', tenant: 'acme', channel: 'chat:1', userId: 'cy' }]);

    // The same info again changes nothing.
    await second.client.subscribe(CHANNEL, presenceAuth(second.client, 'ana', { name: 'Ana B.' }));
    const ping = await later.client.subscribe(CHANNEL, presenceAuth(later.client, 'cy', {}));
    expect(ping.event).toBe('pusher_internal:subscription_succeeded');
    expect(await memberFrames(watcher.client, 'ana', 2)).toEqual(CHANGE);
  });
});

const redisDecision = await redisCheck();
const prefix = `sbtest:presence-info:${process.pid}:${Date.now()}:`;

describe.skipIf(redisDecision === 'skip')('local presence over Redis: a member with tabs on several nodes gets new info', () => {
  beforeAll(() => requireService(redisDecision, 'Redis'));
  afterAll(async () => {
    await deleteRedisKeys(REDIS_URL, prefix);
  });

  it('shows the new info on every node, where the user has a tab and where it has none', async () => {
    const node = async () => {
      const harness = await startLocal({ key: KEY, secret: SECRET, redisUrl: REDIS_URL, redisKeyPrefix: prefix, heartbeatMs: 200 });
      await eventually(() => harness.provider.scaleOutStats()?.connected === true);
      return harness;
    };
    const [a, b, c] = [await node(), await node(), await node()];
    const ana1 = await joined(a.port, 'ana', { name: 'Ana' });
    const dee = await joined(a.port, 'dee', {});
    const ana2 = await joined(b.port, 'ana', { name: 'Ana' });
    const bob = await joined(b.port, 'bob', {});
    const cy = await joined(c.port, 'cy', {});
    const infoOfAna = async (harness: typeof a) => (await harness.provider.presence('acme', 'chat:1')).find((member) => member.id === 'ana')?.info;
    await eventually(async () => (await c.provider.presence('acme', 'chat:1')).length === 4, 10_000);

    await ana1.client.subscribe(CHANNEL, presenceAuth(ana1.client, 'ana', { name: 'Ana B.' }));
    for (const watcher of [dee, ana2, bob, cy]) expect(await memberFrames(watcher.client, 'ana', 2)).toEqual(CHANGE);
    for (const harness of [a, b, c]) await eventually(async () => (await infoOfAna(harness))?.['name'] === 'Ana B.', 10_000);

    // The tab on the other node renames: the newest signed info wins everywhere again.
    await ana2.client.subscribe(CHANNEL, presenceAuth(ana2.client, 'ana', { name: 'Ana C.' }));
    for (const watcher of [dee, bob, cy]) expect((await memberFrames(watcher.client, 'ana', 4)).slice(2)).toEqual(change('Ana C.'));
    expect(await memberFrames(ana1.client, 'ana', 2)).toEqual(change('Ana C.'));
    for (const harness of [a, b, c]) await eventually(async () => (await infoOfAna(harness))?.['name'] === 'Ana C.', 10_000);
    const later = await joined(c.port, 'eve', {});
    expect((later.presence as { hash: Record<string, unknown> }).hash.ana).toEqual({ name: 'Ana C.' });
  }, 30_000);
});
