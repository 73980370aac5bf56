/** pusher-js (the official client, Node build) helpers shared by the tests that drive it. */
import PusherJs, { type Channel } from 'pusher-js';

// pusher-js ships CommonJS typings with `export default`: under NodeNext the default import
// is typed as the module, while Node hands over module.exports, which is the class itself.
export const Pusher = PusherJs as unknown as typeof PusherJs.default;
export type Pusher = InstanceType<typeof Pusher>;

export function subscribed(channel: Channel): Promise<unknown> {
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', (error: unknown) => reject(new Error(JSON.stringify(error))));
  });
}

export function next<T = unknown>(channel: Channel, event: string): Promise<T> {
  return new Promise((resolve) => {
    const handler = (data: T) => {
      channel.unbind(event, handler);
      resolve(data);
    };
    channel.bind(event, handler);
  });
}

/** The next `event` with the metadata pusher-js adds (user_id for presence client events). */
export function nextWithMeta(channel: Channel, event: string): Promise<{ data: unknown; metadata: unknown }> {
  return new Promise((resolve) => {
    const handler = (data: unknown, metadata: unknown) => {
      channel.unbind(event, handler);
      resolve({ data, metadata });
    };
    channel.bind(event, handler);
  });
}

/** Every non-protocol event a channel receives, in order. */
export function record(channel: Channel): { events: { event: string; data: unknown }[]; waitFor(count: number): Promise<void> } {
  const events: { event: string; data: unknown }[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  channel.bind_global((event: string, data: unknown) => {
    if (event.startsWith('pusher')) return;
    events.push({ event, data });
    for (const waiter of waiters) if (events.length >= waiter.count) waiter.resolve();
  });
  return {
    events,
    waitFor: (count) => (events.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
  };
}

/** A pusher-js client of a listening BFF whose channels are authorized by `POST /v1/auth/pusher` with `token` (and `signin()` by `/v1/auth/pusher/user`). */
export function bffClient(bff: { url: string; port: number }, token: string, key = 'switchboard-key'): Pusher {
  const headers = { Authorization: `Bearer ${token}` };
  return new Pusher(key, {
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: bff.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { endpoint: `${bff.url}/v1/auth/pusher`, transport: 'ajax', headers },
    userAuthentication: { endpoint: `${bff.url}/v1/auth/pusher/user`, transport: 'ajax', headers },
  });
}

/** Subscribes and waits until the server confirmed the subscription. */
export async function join(pusher: Pusher, channel: string): Promise<Channel> {
  const subscription = pusher.subscribe(channel);
  await subscribed(subscription);
  return subscription;
}
