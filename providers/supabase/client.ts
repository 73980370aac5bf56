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
 *
 * The Realtime JWT is short-lived (SUPABASE_REALTIME_JWT_TTL_S): the transport renews it at
 * `POST /v1/auth/supabase` with the capability token before it expires and sends it on
 * the joined channels. The BFF refuses a terminated user's token, so Realtime closes that
 * user's channels when the JWT in hand expires.
 *
 * Realtime allows 100 channels per connection; each Switchboard channel with presence or
 * whispers uses two. A subscription past that is refused here with `rate_limited`.
 * Join refusals that no retry can fix (a JWT the project cannot verify: wrong secret, key
 * id or signing key) are `forbidden`, with Realtime's reason, and so is a connection
 * refused for a wrong SUPABASE_ANON_KEY (see `handshakeFailure`).
 */
import type { RealtimeChannel, RealtimeClient } from '@supabase/realtime-js';
import * as z from 'zod/mini';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { errorFromResponse } from '../../src/client/errors.js';
import { bffUrl } from '../../src/client/http.js';
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
const systemSchema = z.object({ status: z.string(), message: z.string() });
const accessTokenSchema = z.object({ accessToken: z.string().check(z.minLength(1)) });
const jwtPayloadSchema = z.object({ exp: z.number() });
const whisperSchema = z.object({ from: z.string(), data: jsonValue });
const metaSchema = z.object({ info: z.optional(z.record(z.string(), jsonValue)) });

const WHISPERS_PER_SECOND = 10;
/** Realtime's `max_channels_per_client`. */
export const SUPABASE_CHANNELS_PER_CONNECTION = 100;
/** Renew the Realtime JWT when this share of its lifetime has passed. */
const RENEW_AT = 0.7;
const RENEW_RETRY_MS = 5000;
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

/** Seconds since the epoch at which a JWT expires, read without verifying (the server does). */
function expiryOf(jwt: string): number | undefined {
  try {
    const part = jwt.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const parsed = jwtPayloadSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Realtime's join refusals and channel shutdown reasons (supabase/realtime RealtimeChannel).
 * A JWT the project cannot verify is a configuration failure: retrying cannot fix it.
 */
export function channelError(message: string): SwitchboardError {
  if (/JwtSignatureError|JwtSignerError|MalformedJWT|Fields `role` and `exp`|signature|signer/i.test(message)) {
    return new SwitchboardError(
      'forbidden',
      `Supabase cannot verify the Realtime JWT (does SUPABASE_JWT_SECRET or SUPABASE_JWT_SIGNING_KEY belong to this project?): ${message}`,
    );
  }
  if (/expired/i.test(message)) return new SwitchboardError('token_expired', `Supabase refused the channel: ${message}`);
  if (/Unauthorized|PrivateOnly|permission/i.test(message)) return new SwitchboardError('forbidden', `Supabase refused the channel: ${message}`);
  if (/ChannelRateLimitReached/.test(message)) {
    return new SwitchboardError('rate_limited', `Supabase refused the channel: ${message} (${SUPABASE_CHANNELS_PER_CONNECTION} per connection)`);
  }
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
  /** Realtime topics this entry holds or is joining on the current connection. */
  topics: number;
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
  /** The server's reason for the last error it reported on a channel (`system` message). */
  const reasons = new WeakMap<RealtimeChannel, string>();
  let renewTimer: ReturnType<typeof setTimeout> | undefined;

  function stop(): void {
    live = false;
    clearTimeout(renewTimer);
    const current = client;
    client = undefined;
    leaving.clear();
    for (const entry of entries) {
      entry.channels = [];
      entry.topics = 0;
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
      // One meta per tab of the user; a (re)track comes last, so the latest signed info shows.
      const meta = metaSchema.safeParse(metas.at(-1));
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
    channel.on('system', {}, (message: unknown) => {
      const system = systemSchema.safeParse(message);
      if (system.success && system.data.status === 'error') reasons.set(channel, system.data.message);
    });
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
          const reason = reasons.get(channel);
          const failure =
            status === 'CHANNEL_ERROR' || reason !== undefined
              ? channelError(error?.message ?? reason ?? 'error')
              : new SwitchboardError('provider_unavailable', `Supabase channel ${status.toLowerCase()}`);
          if (!settled) {
            settled = true;
            reject(failure);
          } else closed(channel, failure);
        }
      }, context.connectTimeoutMs);
    });
  }

  /** A live channel of some entry was closed by the server (token expired, permission revoked, quota), with its reason. */
  function closed(channel: RealtimeChannel, error: SwitchboardError): void {
    for (const entry of entries) {
      if (!entry.channels.includes(channel)) continue;
      detach(entry);
      const current = client;
      if (error.code === 'token_expired' && current) void rejoinWithFreshToken(current, entry, error);
      else entry.handlers.onError(error);
    }
  }

  /** The Realtime JWT expired before the wrapper renewed it: get a fresh one and join again, once. */
  async function rejoinWithFreshToken(current: RealtimeClient, entry: Entry, failure: SwitchboardError): Promise<void> {
    if (entry.retriedToken) return entry.handlers.onError(failure);
    entry.retriedToken = true;
    try {
      updateToken(await context.token(true));
    } catch (retry) {
      entry.handlers.onError(retry instanceof SwitchboardError ? retry : failure);
      return;
    }
    await attach(current, entry);
  }

  function topicsInUse(): number {
    let count = 0;
    for (const entry of entries) count += entry.topics;
    return count;
  }

  async function attach(current: RealtimeClient, entry: Entry): Promise<void> {
    const { channel: name, presence } = entry.target;
    const withMembers = presence || entry.allowedWhispers.length > 0;
    const needed = withMembers ? 2 : 1;
    if (topicsInUse() + needed > SUPABASE_CHANNELS_PER_CONNECTION) {
      entry.handlers.onError(
        new SwitchboardError(
          'rate_limited',
          `Supabase allows ${SUPABASE_CHANNELS_PER_CONNECTION} channels per connection and ${name} needs ${needed} more (channels with presence or whispers use two); unsubscribe from others first`,
        ),
      );
      return;
    }
    entry.topics = needed;
    const events = await join(current, entry, toSupabaseTopic(tenant, name), false, false);
    const members = withMembers ? await join(current, entry, toSupabaseMembersTopic(tenant, name), presence, true) : undefined;
    const created = members ? [events, members] : [events];
    if (client !== current || !entries.has(entry)) {
      // Unsubscribed or disconnected meanwhile: leave no unjoined channel behind for a later join to reuse.
      for (const channel of created) void current.removeChannel(channel);
      return;
    }
    entry.channels = created;
    const trackedInfo = config.member.info;
    try {
      await Promise.all(entry.channels.map(subscribed));
      if (members && presence) {
        const answer = await members.track({ info: trackedInfo });
        if (answer !== 'ok') throw new SwitchboardError('provider_unavailable', `Supabase presence track ${answer}`);
      }
    } catch (error) {
      if (client !== current || !entries.has(entry)) return;
      detach(entry);
      const failure = error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error));
      if (failure.code === 'token_expired') return rejoinWithFreshToken(current, entry, failure);
      entry.handlers.onError(failure);
      return;
    }
    entry.members = members;
    entry.retriedToken = false;
    entry.handlers.onSubscribed();
    // A token refreshed while this join was on its way (e.g. during a reconnect) skipped it in
    // updateToken: track again with the info it signs, or the new info is lost to the race.
    if (members && presence && JSON.stringify(config.member.info) !== JSON.stringify(trackedInfo)) {
      void members.track({ info: config.member.info }).catch(() => undefined);
    }
  }

  function detach(entry: Entry): void {
    const current = client;
    // Cleared first: leaving closes the channels, and our own close is no error to report.
    const channels = entry.channels;
    entry.channels = [];
    entry.topics = 0;
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

  function setAccessToken(accessToken: string): void {
    config = { ...config, accessToken };
    void client?.setAuth(accessToken);
    scheduleRenewal();
  }

  function updateToken(token: ClientTokenInfo): void {
    const previousInfo = JSON.stringify(config.member.info);
    config = parseConfig(token);
    setAccessToken(config.accessToken);
    // The identity's info changed (e.g. a new display name): track again, which replaces this member's meta.
    if (JSON.stringify(config.member.info) !== previousInfo) {
      for (const entry of entries) if (entry.target.presence) void entry.members?.track({ info: config.member.info }).catch(() => undefined);
    }
  }

  async function fetchAccessToken(): Promise<string> {
    const { token } = await context.token();
    const response = await context.fetch(bffUrl(context, '/v1/auth/supabase'), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw await errorFromResponse(response, 'Supabase access token');
    const parsed = accessTokenSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new SwitchboardError('provider_unavailable', 'The BFF answered an unexpected Supabase access token');
    return parsed.data.accessToken;
  }

  /** Renews the Realtime JWT before it expires; a refused renewal (terminated user) lets it expire. */
  function scheduleRenewal(): void {
    clearTimeout(renewTimer);
    const exp = expiryOf(config.accessToken);
    if (!client || exp === undefined) return;
    const current = client;
    const remaining = exp * 1000 - Date.now();
    const renew = async (): Promise<void> => {
      if (client !== current) return;
      try {
        setAccessToken(await fetchAccessToken());
      } catch (error) {
        const refused = error instanceof SwitchboardError && error.status === 401;
        // A refused capability token: the session may still give a new one (an app that ended the session refuses that too).
        if (refused) return void context.token(true).catch(() => undefined);
        if (client === current && exp * 1000 - Date.now() > RENEW_RETRY_MS) renewTimer = setTimeout(() => void renew(), RENEW_RETRY_MS);
      }
    };
    renewTimer = setTimeout(() => void renew(), Math.max(1000, remaining * RENEW_AT));
    (renewTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Realtime (and Supabase's gateway) refuse a wrong `apikey` at the WebSocket handshake
   * with 401, which a browser reports only as a failed connection. The REST broadcast
   * endpoint checks the same key the same way (`AuthTenant`, open CORS) and shows the
   * status, so an empty broadcast tells a wrong key (a configuration failure retrying
   * cannot fix) from an outage.
   */
  async function handshakeFailure(): Promise<SwitchboardError> {
    const outage = new SwitchboardError('provider_unavailable', 'Supabase connection failed');
    try {
      const response = await context.fetch(`${config.url}/realtime/v1/api/broadcast`, {
        method: 'POST',
        headers: { apikey: config.anonKey, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [] }),
        signal: AbortSignal.timeout(context.connectTimeoutMs),
      });
      if (response.status !== 401 && response.status !== 403) return outage;
      return new SwitchboardError(
        'forbidden',
        `Supabase refused SUPABASE_ANON_KEY (HTTP ${response.status}): it is not an anon or publishable key of the project at ${config.url}; fix the BFF's configuration`,
      );
    } catch {
      return outage;
    }
  }

  return {
    kind: 'supabase',
    features: { presence: true, clientEvents: true, presenceInfo: 'token' },

    async connect() {
      stop();
      const { RealtimeClient: Client, WebSocket: Base } = await loadRealtime();
      let opened: ((error?: SwitchboardError) => void) | undefined;
      const transport = observed(Base, (event) => {
        if (opened && event === 'open') return opened();
        if (opened) return void handshakeFailure().then((error) => opened?.(error));
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
      scheduleRenewal();
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
      const entry: Entry = { target, handlers, allowedWhispers, channels: [], retriedToken: false, topics: 0 };
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
