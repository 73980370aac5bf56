/**
 * Client transport over the official `@supabase/realtime-js` (the Realtime part of
 * supabase-js alone, for a smaller chunk), imported lazily. Every channel joins as a
 * private channel with the BFF-issued Realtime JWT, so Supabase runs the RLS policies
 * of policies.sql at join:
 *   - `{ns}:{tenant}:{rest}` carries server events (clients may only receive there);
 *   - `{ns}:{tenant}:{rest}#members` carries presence (keyed by user id: one entry per
 *     user) and whispers (`client-<name>` broadcasts), joined when the namespace has
 *     presence or client events.
 * Realtime checks access per channel at join, not per message, so this transport drops
 * whispers whose name the namespace does not list, and throttles its own whispers to
 * 10/s (Realtime answers floods by closing the channel, not by refusing one message).
 *
 * The wrapper owns reconnection: each `connect()` builds a fresh RealtimeClient, and a
 * drop stops it (no SDK retry) and is reported.
 */
import type { RealtimeChannel, RealtimeClient } from '@supabase/realtime-js';
import * as z from 'zod/mini';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { toSupabaseMembersTopic, toSupabaseTopic } from '../../src/core/provider-names.js';
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
import { Emitter } from '../../src/client/emitter.js';

const jsonValue = z.custom<JsonValue>(() => true);

/** The `supabase` branch of the token answer's `provider` (core's supabaseClientConfigSchema). */
const configSchema = z.object({
  name: z.literal('supabase'),
  url: z.string().check(z.minLength(1)),
  anonKey: z.string().check(z.minLength(1)),
  accessToken: z.string().check(z.minLength(1)),
  member: z.object({ id: z.string(), info: z.record(z.string(), jsonValue) }),
  clientEvents: z.record(z.string(), z.array(z.string())),
});
type Config = z.infer<typeof configSchema>;

const broadcastSchema = z.object({ event: z.string(), payload: z.unknown() });
const whisperSchema = z.object({ from: z.string(), data: jsonValue });
const metaSchema = z.object({ info: z.optional(z.record(z.string(), jsonValue)) });

const WHISPERS_PER_SECOND = 10;
/** Longer than any session: the wrapper, not the SDK, decides when to reconnect. */
const NO_SDK_RETRY_MS = 86_400_000;
const CLIENT_EVENT_PREFIX = 'client-';

function parseConfig(token: ClientTokenInfo): Config {
  const parsed = configSchema.safeParse(token.provider);
  if (!parsed.success) throw new SwitchboardError('provider_unavailable', `The BFF's ${token.provider.name} client config is not usable by the Supabase transport`);
  return parsed.data;
}

type WebSocketClass = new (url: string | URL, protocols?: string | string[]) => WebSocket;

async function loadRealtime(): Promise<{ RealtimeClient: typeof RealtimeClient; WebSocket: WebSocketClass }> {
  const module = await import('@supabase/realtime-js');
  // Node 20 has no global WebSocket: realtime-js then needs the `ws` package passed in.
  const socket = typeof globalThis.WebSocket === 'function' ? globalThis.WebSocket : ((await import('ws')).WebSocket as unknown as WebSocketClass);
  return { RealtimeClient: module.RealtimeClient, WebSocket: socket };
}

/** The WebSocket class handed to realtime-js, reporting when its socket opens and closes. */
function observed(Base: WebSocketClass, listener: (event: 'open' | 'close') => void): WebSocketClass {
  return class extends Base {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('open', () => listener('open'));
      this.addEventListener('close', () => listener('close'));
    }
  };
}

function joinError(message: string): SwitchboardError {
  if (/Unauthorized|PrivateOnly|permission/i.test(message)) return new SwitchboardError('forbidden', `Supabase refused the channel: ${message}`);
  if (/expired/i.test(message)) return new SwitchboardError('token_expired', `Supabase refused the channel: ${message}`);
  return new SwitchboardError('provider_unavailable', `Supabase channel error: ${message}`);
}

interface Entry {
  target: TransportTarget;
  handlers: TransportChannelHandlers;
  allowedWhispers: string[];
  /** Channels of the current connection: events first, then members. */
  channels: RealtimeChannel[];
  members?: RealtimeChannel;
  retriedToken: boolean;
}

export const createSupabaseTransport: TransportFactory = (initial: ClientTokenInfo, context: TransportContext): ClientTransport => {
  const { tenant } = initial;
  let config = parseConfig(initial);
  let client: RealtimeClient | undefined;
  let live = false;
  const entries = new Set<Entry>();
  /** Topics still leaving on the current client: a new join of one waits for its leave. */
  const leaving = new Map<string, Promise<unknown>>();
  const events = new Emitter<{ drop: [SwitchboardError]; warning: [SwitchboardError] }>();
  let whisperWindow = { start: 0, count: 0 };

  function stop(): void {
    live = false;
    const current = client;
    client = undefined;
    leaving.clear();
    for (const entry of entries) {
      entry.channels = [];
      delete entry.members;
    }
    void current?.disconnect();
  }

  function lost(error: SwitchboardError): void {
    if (!live) return;
    stop();
    events.emit('drop', error);
  }

  function membersOf(channel: RealtimeChannel): PresenceMember[] {
    const state = channel.presenceState();
    const members: PresenceMember[] = [];
    for (const [id, metas] of Object.entries(state)) {
      const meta = metaSchema.safeParse(metas[0]);
      if (metas.length > 0) members.push({ id, info: meta.success ? (meta.data.info ?? {}) : {} });
    }
    return members;
  }

  function onBroadcast(entry: Entry, fromMembers: boolean, raw: unknown): void {
    const message = broadcastSchema.safeParse(raw);
    if (!message.success) return;
    const { event, payload } = message.data;
    if (!fromMembers) {
      if (!event.startsWith(CLIENT_EVENT_PREFIX)) entry.handlers.onEvent(payload);
      return;
    }
    // Only whispers travel on the members topic; names outside the namespace's list are dropped.
    const name = event.slice(CLIENT_EVENT_PREFIX.length);
    const whisper = whisperSchema.safeParse(payload);
    if (!event.startsWith(CLIENT_EVENT_PREFIX) || !entry.allowedWhispers.includes(name) || !whisper.success) return;
    entry.handlers.onClientEvent(name, whisper.data.data, whisper.data.from);
  }

  async function join(current: RealtimeClient, entry: Entry, topic: string, presence: boolean, fromMembers: boolean): Promise<RealtimeChannel> {
    await leaving.get(topic);
    const channel = current.channel(topic, {
      config: { private: true, broadcast: { self: false, ack: false }, presence: { key: config.member.id, enabled: presence } },
    });
    channel.on('broadcast', { event: '*' }, (message: unknown) => onBroadcast(entry, fromMembers, message));
    if (presence) channel.on('presence', { event: 'sync' }, () => entry.handlers.onPresence(membersOf(channel)));
    return channel;
  }

  function subscribed(channel: RealtimeChannel): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      channel.subscribe((status, error) => {
        if (status === 'SUBSCRIBED' && !settled) {
          settled = true;
          resolve();
        } else if (status !== 'SUBSCRIBED') {
          const failure = status === 'CHANNEL_ERROR' ? joinError(error?.message ?? 'error') : new SwitchboardError('provider_unavailable', `Supabase channel ${status.toLowerCase()}`);
          if (!settled) {
            settled = true;
            reject(failure);
          } else closed(channel, failure);
        }
      }, context.connectTimeoutMs);
    });
  }

  /** A live channel of some entry was closed by the server (token expired, permission revoked). */
  function closed(channel: RealtimeChannel, error: SwitchboardError): void {
    for (const entry of entries) {
      if (!entry.channels.includes(channel)) continue;
      detach(entry);
      entry.handlers.onError(error);
    }
  }

  async function attach(current: RealtimeClient, entry: Entry): Promise<void> {
    const { channel: name, presence } = entry.target;
    const withMembers = presence || entry.allowedWhispers.length > 0;
    const events = await join(current, entry, toSupabaseTopic(tenant, name), false, false);
    const members = withMembers ? await join(current, entry, toSupabaseMembersTopic(tenant, name), presence, true) : undefined;
    const created = members ? [events, members] : [events];
    if (client !== current || !entries.has(entry)) {
      // Unsubscribed or disconnected meanwhile: leave no unjoined channel behind for a later join to reuse.
      for (const channel of created) void current.removeChannel(channel);
      return;
    }
    entry.channels = created;
    try {
      await Promise.all(entry.channels.map(subscribed));
      if (members && presence) {
        const answer = await members.track({ info: config.member.info });
        if (answer !== 'ok') throw new SwitchboardError('provider_unavailable', `Supabase presence track ${answer}`);
      }
    } catch (error) {
      if (client !== current || !entries.has(entry)) return;
      detach(entry);
      const failure = error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error));
      // The Realtime JWT expired before the wrapper refreshed it: get a fresh one and join again, once.
      if (failure.code === 'token_expired' && !entry.retriedToken) {
        entry.retriedToken = true;
        try {
          updateToken(await context.token(true));
          return await attach(current, entry);
        } catch (retry) {
          entry.handlers.onError(retry instanceof SwitchboardError ? retry : failure);
          return;
        }
      }
      entry.handlers.onError(failure);
      return;
    }
    entry.members = members;
    entry.retriedToken = false;
    entry.handlers.onSubscribed();
  }

  function detach(entry: Entry): void {
    const current = client;
    // Cleared first: leaving closes the channels, and our own close is no error to report.
    const channels = entry.channels;
    entry.channels = [];
    delete entry.members;
    for (const channel of channels) {
      if (current) leaving.set(channel.subTopic, current.removeChannel(channel).finally(() => leaving.delete(channel.subTopic)));
    }
  }

  function whisperAllowedNow(): boolean {
    const now = Date.now();
    if (now - whisperWindow.start >= 1000) whisperWindow = { start: now, count: 0 };
    return ++whisperWindow.count <= WHISPERS_PER_SECOND;
  }

  function updateToken(token: ClientTokenInfo): void {
    config = parseConfig(token);
    void client?.setAuth(config.accessToken);
  }

  return {
    kind: 'supabase',
    features: { presence: true, clientEvents: true, presenceInfo: 'token' },

    async connect() {
      stop();
      const { RealtimeClient: Client, WebSocket: Base } = await loadRealtime();
      let opened: ((error?: SwitchboardError) => void) | undefined;
      const transport = observed(Base, (event) => {
        if (opened) return opened(event === 'open' ? undefined : new SwitchboardError('provider_unavailable', 'Supabase connection failed'));
        if (event === 'close' && client === current) lost(new SwitchboardError('provider_unavailable', 'Supabase connection lost'));
      });
      const current = new Client(`${config.url.replace(/^http/, 'ws')}/realtime/v1`, {
        params: { apikey: config.anonKey },
        transport: transport as never,
        timeout: context.connectTimeoutMs,
        reconnectAfterMs: () => NO_SDK_RETRY_MS,
        disconnectOnEmptyChannelsAfterMs: NO_SDK_RETRY_MS,
      });
      client = current;
      await current.setAuth(config.accessToken);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => opened?.(new SwitchboardError('provider_unavailable', 'Supabase connection timed out')), context.connectTimeoutMs);
        opened = (error) => {
          clearTimeout(timer);
          opened = undefined;
          if (!error) return resolve();
          if (client === current) stop();
          reject(error);
        };
        current.connect();
      });
      if (client !== current) throw new SwitchboardError('provider_unavailable', 'Supabase connection was stopped');
      live = true;
      for (const entry of entries) void attach(current, entry);
    },

    disconnect() {
      stop();
    },

    onDrop: (listener) => events.on('drop', listener),

    onWarning: (listener) => events.on('warning', listener),

    subscribe(target: TransportTarget, handlers: TransportChannelHandlers): TransportSubscription {
      const namespace = target.channel.slice(0, target.channel.indexOf(':'));
      const allowedWhispers = Object.hasOwn(config.clientEvents, namespace) ? (config.clientEvents[namespace] ?? []) : [];
      const entry: Entry = { target, handlers, allowedWhispers, channels: [], retriedToken: false };
      entries.add(entry);
      if (client && live) void attach(client, entry);
      return {
        whisper(event: string, data: JsonValue) {
          const channel = entry.members;
          if (!channel || !live) return false;
          if (!whisperAllowedNow()) {
            const warning = new SwitchboardError('rate_limited', `Whispers are limited to ${WHISPERS_PER_SECOND} per second on Supabase; "${event}" was dropped`);
            events.emit('warning', warning);
            return true;
          }
          void channel.send({ type: 'broadcast', event: `${CLIENT_EVENT_PREFIX}${event}`, payload: { from: config.member.id, data } });
          return true;
        },
        unsubscribe() {
          if (!entries.delete(entry)) return;
          detach(entry);
        },
      };
    },

    updateToken,

    close() {
      entries.clear();
      events.clear();
      stop();
    },
  };
};
