/**
 * Client transport over the official `pusher-js` SDK, for hosted Pusher Channels and the
 * embedded `local` provider (which speaks the same protocol). pusher-js is imported
 * lazily, so apps only download it when the BFF says the provider is Pusher-compatible.
 *
 * pusher-js reconnects on its own with fixed delays; the wrapper owns reconnection
 * (backoff with jitter, token refresh first), so when an established connection drops
 * this transport stops the SDK (`disconnect()`) and reports the drop. pusher-js keeps its
 * channels across `disconnect()`/`connect()` and resubscribes (re-authorizing) on connect.
 */
import type * as PusherModule from 'pusher-js';
import * as z from 'zod/mini';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { errorFromResponse } from '../../src/client/errors.js';
import { bffUrl } from '../../src/client/http.js';
import type {
  ClientTokenInfo,
  ClientTransport,
  PresenceMember,
  TransportChannelHandlers,
  TransportContext,
  TransportFactory,
  TransportSubscription,
  TransportTarget,
} from '../types.js';
import { decodeData } from '../decode-data.js';
import { Emitter } from '../../src/client/emitter.js';

type PusherClass = typeof PusherModule.default.default;
type PusherClient = InstanceType<PusherClass>;
type PusherChannel = ReturnType<PusherClient['subscribe']>;

/** The `local`/`pusher` branch of the token answer's `provider` (core's pusherClientConfigSchema). */
const configSchema = z.object({
  name: z.enum(['local', 'pusher']),
  key: z.string().check(z.minLength(1)),
  cluster: z.string().check(z.minLength(1)),
  wsHost: z.optional(z.string()),
  wsPort: z.optional(z.number()),
  forceTLS: z.boolean(),
  authEndpoint: z.string().check(z.minLength(1)),
});

const pusherAuthSchema = z.object({ auth: z.string().check(z.minLength(1)), channel_data: z.optional(z.string()) });

/** Frames as pusher-js hands them to `connection.bind('message')`: `data` already JSON-decoded when it could be. */
const messageSchema = z.object({
  event: z.string(),
  channel: z.optional(z.string()),
  data: z.unknown(),
  user_id: z.optional(z.string()),
});

const connectionErrorSchema = z.object({
  data: z.optional(z.object({ code: z.optional(z.nullable(z.number())), message: z.optional(z.nullable(z.string())) })),
});

const jsonValue = z.custom<JsonValue>(() => true);
const memberSchema = z.object({ id: z.string(), info: z.optional(z.nullable(z.record(z.string(), jsonValue))) });

const channelDataSchema = z.object({ user_info: z.optional(z.unknown()) });

/** The member info a presence authorization signs, as JSON (other fields, e.g. its expiry, change with every token). */
function signedInfo(authorization: z.infer<typeof pusherAuthSchema>): string | undefined {
  if (authorization.channel_data === undefined) return undefined;
  try {
    const parsed = channelDataSchema.safeParse(JSON.parse(authorization.channel_data));
    return parsed.success ? JSON.stringify(parsed.data.user_info ?? {}) : undefined;
  } catch {
    return undefined;
  }
}

async function loadPusher(): Promise<PusherClass> {
  const module: { default: unknown } = await import('pusher-js');
  // Node's CommonJS interop and bundlers both put the class on `default`; the typings claim one level more.
  const candidate = module.default;
  if (typeof candidate !== 'function') throw new SwitchboardError('provider_unavailable', 'pusher-js could not be loaded');
  return candidate as PusherClass;
}

const UNAUTHORIZED = 4009;

/** Close codes 4001-4099 mean the app or key is refused (pusher-docs protocol); retrying cannot help. */
function closeError(code: number | null | undefined, message: string | null | undefined): SwitchboardError {
  const text = `Pusher connection closed${code ? ` (${code})` : ''}${message ? `: ${message}` : ''}`;
  return new SwitchboardError(code && code > 4000 && code < 4100 ? 'forbidden' : 'provider_unavailable', text);
}

function isPresenceChannel(channel: PusherChannel): channel is PusherModule.PresenceChannel {
  return 'members' in channel;
}

function presenceMembers(channel: PusherChannel): PresenceMember[] {
  if (!isPresenceChannel(channel)) return [];
  const members: PresenceMember[] = [];
  channel.members.each((raw: unknown) => {
    const member = memberSchema.safeParse(raw);
    if (member.success) members.push({ id: member.data.id, info: member.data.info ?? {} });
  });
  return members;
}

interface Entry {
  name: string;
  presence: boolean;
  handlers: TransportChannelHandlers;
  /** Set once pusher-js is loaded. */
  channel?: PusherChannel;
  /** Presence: the signed `user_info` the subscription was made with, as JSON. */
  memberInfo?: string | undefined;
  /** The capability token the latest authorization of this channel was signed under. */
  authorizedWith?: string;
}

export const createPusherTransport: TransportFactory = (initial: ClientTokenInfo, context: TransportContext): ClientTransport => {
  const { tenant } = initial;
  const parsedConfig = configSchema.safeParse(initial.provider);
  if (!parsedConfig.success) {
    throw new SwitchboardError('provider_unavailable', `The BFF's ${initial.provider.name} client config is not usable by the Pusher transport`);
  }
  const config = parsedConfig.data;
  let pusher: PusherClient | undefined;
  let live = false;
  let lastError: SwitchboardError | undefined;
  const entries = new Map<string, Entry>();
  const authErrors = new Map<string, SwitchboardError>();
  const events = new Emitter<{ drop: [SwitchboardError]; warning: [SwitchboardError] }>();

  async function authorize(socketId: string, channelName: string, refreshed = false): Promise<z.infer<typeof pusherAuthSchema>> {
    const { token } = await context.token(refreshed);
    const entry = entries.get(channelName);
    if (entry) entry.authorizedWith = token;
    let response: Response;
    try {
      response = await context.fetch(bffUrl(context, config.authEndpoint), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }).toString(),
      });
    } catch (error) {
      throw new SwitchboardError('provider_unavailable', `Channel authorization failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    // An expired or revoked capability token: fetch a new one and try once more.
    if (response.status === 401 && !refreshed) return authorize(socketId, channelName, true);
    if (!response.ok) throw await errorFromResponse(response, 'Channel authorization');
    const parsed = pusherAuthSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new SwitchboardError('provider_unavailable', 'Channel authorization returned an unexpected answer');
    return parsed.data;
  }

  function lost(error: SwitchboardError): void {
    if (!live) return;
    live = false;
    // Stop pusher-js's own retry timer; the wrapper reconnects with its backoff.
    queueMicrotask(() => pusher?.disconnect());
    events.emit('drop', error);
  }

  function onMessage(raw: unknown): void {
    const message = messageSchema.safeParse(raw);
    if (!message.success || message.data.channel === undefined) return;
    const entry = entries.get(message.data.channel);
    if (!entry) return;
    const { event, data, user_id: from } = message.data;
    if (event.startsWith('client-')) entry.handlers.onClientEvent(event.slice('client-'.length), decodeData(data), from);
    else if (!event.startsWith('pusher')) entry.handlers.onEvent(decodeData(data));
  }

  function create(Pusher: PusherClass): PusherClient {
    const client = new Pusher(config.key, {
      cluster: config.cluster,
      ...(config.wsHost ? { wsHost: config.wsHost } : {}),
      ...(config.wsPort ? { wsPort: config.wsPort, wssPort: config.wsPort } : {}),
      forceTLS: config.forceTLS,
      enabledTransports: config.forceTLS ? ['wss'] : ['ws'],
      disableStats: true,
      unavailableTimeout: context.connectTimeoutMs,
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, callback) => {
          authorize(socketId, channelName).then(
            (data) => {
              authErrors.delete(channelName);
              const entry = entries.get(channelName);
              if (entry) entry.memberInfo = signedInfo(data);
              callback(null, data);
            },
            (error: unknown) => {
              const failure = error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error));
              authErrors.set(channelName, failure);
              callback(failure, null);
            },
          );
        },
      },
    });
    client.connection.bind('message', onMessage);
    client.connection.bind('error', (raw: unknown) => {
      const parsed = connectionErrorSchema.safeParse(raw);
      if (!parsed.success || !parsed.data.data) return;
      const { code, message } = parsed.data.data;
      // Pusher protocol: 4300-4399 refuse one request (rate limit, bad frame) and keep the connection.
      if (code && code >= 4300 && code < 4400) {
        const warning = new SwitchboardError(code === 4301 ? 'rate_limited' : 'invalid_request', `Pusher refused a request (${code})${message ? `: ${message}` : ''}`);
        events.emit('warning', warning);
        return;
      }
      // 4009 also closes a connection that held no channel past the server's deadline (the
      // local server, like Pusher's authorized connections): only a refusal when channels were at stake.
      lastError = code === UNAUTHORIZED && entries.size === 0 ? closeError(undefined, message ?? 'idle connection closed') : closeError(code, message);
    });
    client.connection.bind('state_change', ({ current }: { current: string }) => {
      if (live && current !== 'connected') lost(lastError ?? closeError(undefined, `state ${current}`));
    });
    return client;
  }

  /** Authorizes a live subscription again under the current token and subscribes again when needed (see updateToken). */
  function renew(client: PusherClient, entry: Entry): void {
    if (config.name !== 'local' && !entry.presence) return;
    const socketId = client.connection.socket_id;
    authorize(socketId, entry.name).then(
      (data) => {
        if (pusher !== client || client.connection.socket_id !== socketId || entries.get(entry.name) !== entry) return;
        const newInfo = entry.presence && signedInfo(data) !== entry.memberInfo;
        if (!newInfo && config.name !== 'local') return;
        entry.memberInfo = signedInfo(data);
        if (newInfo) client.send_event('pusher:unsubscribe', { channel: entry.name });
        client.send_event('pusher:subscribe', { channel: entry.name, ...data });
      },
      // Not renewed: the server ends the subscription at expiry and the channel subscribes again.
      () => undefined,
    );
  }

  function attach(client: PusherClient, entry: Entry): void {
    const channel = (entry.channel = client.subscribe(entry.name));
    const { handlers, presence } = entry;
    const members = () => handlers.onPresence(presenceMembers(channel));
    channel.bind('pusher:subscription_succeeded', () => {
      if (presence) members();
      handlers.onSubscribed();
      // A token refreshed while this subscription was on its way (e.g. during a reconnect)
      // was skipped by updateToken: renew under it now, or new member info never shows.
      if (presence) {
        void context.token().then(({ token }) => {
          if (token !== entry.authorizedWith && pusher === client) renew(client, entry);
        }, () => undefined);
      }
    });
    channel.bind('pusher:subscription_error', (raw: unknown) => {
      const status = z.object({ status: z.optional(z.number()), error: z.optional(z.string()) }).safeParse(raw);
      handlers.onError(
        authErrors.get(channel.name) ??
          new SwitchboardError(
            status.success && status.data.status === 403 ? 'forbidden' : 'provider_unavailable',
            `Subscription to ${channel.name} failed${status.success && status.data.error ? `: ${status.data.error}` : ''}`,
          ),
      );
    });
    if (presence) {
      channel.bind('pusher:member_added', members);
      channel.bind('pusher:member_removed', members);
    }
  }

  return {
    kind: 'pusher',
    features: { presence: true, clientEvents: true, presenceInfo: 'token' },

    async connect() {
      if (!pusher) {
        pusher = create(await loadPusher());
        for (const entry of entries.values()) attach(pusher, entry);
      }
      const client = pusher;
      if (client.connection.state === 'connected') {
        live = true;
        return;
      }
      lastError = undefined;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(closeError(undefined, 'connection timed out')), context.connectTimeoutMs);
        const onState = ({ current }: { current: string }) => {
          if (current === 'connected') settle();
          else if (current === 'unavailable' || current === 'failed' || current === 'disconnected') {
            settle(lastError ?? closeError(undefined, `state ${current}`));
          }
        };
        function settle(error?: SwitchboardError) {
          clearTimeout(timer);
          client.connection.unbind('state_change', onState);
          if (!error) {
            live = true;
            resolve();
            return;
          }
          client.disconnect();
          reject(error);
        }
        client.connection.bind('state_change', onState);
        client.connect();
      });
    },

    disconnect() {
      live = false;
      pusher?.disconnect();
    },

    onDrop: (listener) => events.on('drop', listener),

    onWarning: (listener) => events.on('warning', listener),

    subscribe(target: TransportTarget, handlers: TransportChannelHandlers): TransportSubscription {
      const name = toPusherChannel(tenant, target.channel, target.presence);
      if (entries.has(name)) throw new SwitchboardError('invalid_request', `Already subscribed to ${target.channel}`);
      const entry: Entry = { name, presence: target.presence, handlers };
      entries.set(name, entry);
      if (pusher) attach(pusher, entry);
      return {
        whisper(event: string, data: JsonValue) {
          return entry.channel?.subscribed === true && entry.channel.trigger(`client-${event}`, data);
        },
        unsubscribe() {
          if (entries.get(name) !== entry) return;
          entries.delete(name);
          entry.channel?.unbind_all();
          pusher?.unsubscribe(name);
        },
      };
    },

    updateToken() {
      // New subscriptions are authorized with the token current when they are sent. Live ones:
      //   - presence info the BFF now signs differently (the app session changed): the server
      //     keeps a member's info from its first subscribe, so leave and subscribe again;
      //     the others see member_removed + member_added, which the wrapper shows as one
      //     change (its leave grace);
      //   - the local server also ends a subscription when the authorization it was made with
      //     expires: renew each under the new token (subscribing again replaces it, as soketi
      //     and Pusher servers treat a repeated subscribe). Hosted Pusher never expires them.
      if (pusher?.connection.state !== 'connected') return;
      const client = pusher;
      for (const entry of entries.values()) {
        if (entry.channel?.subscribed === true) renew(client, entry);
      }
    },

    close() {
      live = false;
      entries.clear();
      events.clear();
      pusher?.disconnect();
      pusher = undefined;
    },
  };
};
