/**
 * Client transport over the official `ably` SDK (Realtime). The transport chunk is loaded
 * lazily by src/client/transports.ts and imports `ably` lazily again inside `connect()`,
 * so the SDK is its own chunk that only apps on Ably download.
 *
 * - Auth: the SDK's `authCallback` asks the BFF (`POST /v1/auth/ably`, capability token as
 *   Bearer) for a TokenRequest; a 401 fetches a fresh capability token once. The Ably key
 *   never reaches the client. A refreshed capability token re-authorizes in place
 *   (`auth.authorize()`), so subscriptions survive token renewal.
 * - Connection: the wrapper owns reconnection, so one `Realtime` lives per connection: when
 *   it leaves `connected` the transport closes it and reports the drop; `connect()` builds a
 *   new one and re-attaches every subscription (calling `onSubscribed` again).
 * - Events: server events have no clientId (the BFF publishes with its key); messages with
 *   a clientId come from clients and are whispers only when named `client-{event}` with an
 *   event the namespace allows — Ably capabilities cannot restrict names, so receivers drop
 *   the rest. Whispers are limited to WHISPERS_PER_SECOND per connection here, like the
 *   Pusher protocol's client events.
 * - Presence: subscribing to a presence channel enters it with the identity's info from the
 *   token answer; members are deduplicated by clientId (`{tenant}:{user}`, see shared.ts).
 */
import type * as AblyModule from 'ably';
import * as z from 'zod/mini';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError, type ErrorCode } from '../../src/core/errors.js';
import { toAblyChannel } from '../../src/core/provider-names.js';
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
import { onePerClient, userOfClientId, WHISPER_PREFIX, WHISPERS_PER_SECOND } from './shared.js';
import { decodeData } from '../decode-data.js';
import { Emitter } from '../../src/client/emitter.js';

type RealtimeClass = typeof AblyModule.Realtime;
type ErrorInfoClass = typeof AblyModule.ErrorInfo;
type Realtime = InstanceType<RealtimeClass>;
type RealtimeChannel = ReturnType<Realtime['channels']['get']>;

const jsonValue = z.custom<JsonValue>(() => true);

/** The `ably` branch of the token answer's `provider` (core's ablyClientConfigSchema). */
const configSchema = z.object({
  name: z.literal('ably'),
  authEndpoint: z.string().check(z.minLength(1)),
  endpoint: z.optional(z.string()),
  port: z.optional(z.number()),
  tls: z.boolean(),
  clientId: z.string().check(z.minLength(1)),
  presenceData: z.record(z.string(), jsonValue),
  clientEvents: z.record(z.string(), z.array(z.string())),
});

/** core's ablyTokenRequestSchema, in zod/mini. */
const tokenRequestSchema = z.object({
  keyName: z.string(),
  ttl: z.number(),
  capability: z.string(),
  clientId: z.string(),
  timestamp: z.number(),
  nonce: z.string(),
  mac: z.string(),
});

const errorInfoSchema = z.object({ code: z.optional(z.nullable(z.number())), statusCode: z.optional(z.nullable(z.number())), message: z.optional(z.nullable(z.string())) });
const messageSchema = z.object({ name: z.optional(z.nullable(z.string())), clientId: z.optional(z.nullable(z.string())), data: z.unknown() });
const memberSchema = z.object({ clientId: z.string(), data: z.unknown(), timestamp: z.optional(z.number()) });
const infoSchema = z.record(z.string(), jsonValue);

async function loadAbly(): Promise<{ Realtime: RealtimeClass; ErrorInfo: ErrorInfoClass }> {
  const module: { Realtime?: unknown; ErrorInfo?: unknown; default?: { Realtime?: unknown; ErrorInfo?: unknown } } = await import('ably');
  // Node's CommonJS interop exposes named exports; browser bundles of the UMD build put them on `default`.
  const Realtime = module.Realtime ?? module.default?.Realtime;
  const ErrorInfo = module.ErrorInfo ?? module.default?.ErrorInfo;
  if (typeof Realtime !== 'function' || typeof ErrorInfo !== 'function') throw new SwitchboardError('provider_unavailable', 'ably could not be loaded');
  return { Realtime: Realtime as RealtimeClass, ErrorInfo: ErrorInfo as ErrorInfoClass };
}

/** Ably ErrorInfo → SwitchboardError: 403 is final (the wrapper stops), token errors 40140-40149 ask for a fresh token. */
function fromErrorInfo(raw: unknown, what: string, fallback: ErrorCode = 'provider_unavailable'): SwitchboardError {
  if (raw instanceof SwitchboardError) return raw;
  const info = errorInfoSchema.safeParse(raw);
  const code = info.success ? (info.data.code ?? undefined) : undefined;
  const status = info.success ? (info.data.statusCode ?? undefined) : undefined;
  const message = `${what}${code ? ` (Ably ${code})` : ''}${info.success && info.data.message ? `: ${info.data.message}` : ''}`;
  if (status === 403 || code === 40160) return new SwitchboardError('forbidden', message);
  if (code !== undefined && code >= 40140 && code < 40150) return new SwitchboardError('token_expired', message);
  if (status === 429) return new SwitchboardError('rate_limited', message);
  if (code === 40009) return new SwitchboardError('payload_too_large', message);
  return new SwitchboardError(fallback, message);
}

function isTokenError(reason: unknown): boolean {
  const info = errorInfoSchema.safeParse(reason);
  const code = info.success ? info.data.code : undefined;
  return typeof code === 'number' && code >= 40140 && code < 40150;
}

interface Entry {
  name: string;
  presence: boolean;
  handlers: TransportChannelHandlers;
  /** Whisper names the namespace allows. */
  whispers: string[];
  /** The channel on the current Realtime, once attached there. */
  channel?: RealtimeChannel;
  entered: boolean;
}

export const createAblyTransport: TransportFactory = (initial: ClientTokenInfo, context: TransportContext): ClientTransport => {
  const { tenant } = initial;
  const parsedConfig = configSchema.safeParse(initial.provider);
  if (!parsedConfig.success) {
    throw new SwitchboardError('provider_unavailable', `The BFF's ${initial.provider.name} client config is not usable by the Ably transport`);
  }
  let config = parsedConfig.data;
  let realtime: Realtime | undefined;
  let live = false;
  /** Why the last authCallback failed, as the BFF said it (more precise than Ably's wrapping). */
  let authError: SwitchboardError | undefined;
  const entries = new Map<string, Entry>();
  const events = new Emitter<{ drop: [SwitchboardError]; warning: [SwitchboardError] }>();
  const whisperTimes: number[] = [];

  function warn(error: SwitchboardError): void {
    events.emit('warning', error);
  }

  async function fetchTokenRequest(refreshed = false): Promise<z.infer<typeof tokenRequestSchema>> {
    const { token } = await context.token(refreshed);
    let response: Response;
    try {
      response = await context.fetch(bffUrl(context, config.authEndpoint), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    } catch (error) {
      throw new SwitchboardError('provider_unavailable', `Ably token request failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    // An expired or revoked capability token: fetch a new one and try once more.
    if (response.status === 401 && !refreshed) return fetchTokenRequest(true);
    if (!response.ok) throw await errorFromResponse(response, 'Ably token request');
    const parsed = tokenRequestSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new SwitchboardError('provider_unavailable', 'Ably token request returned an unexpected answer');
    return parsed.data;
  }

  function closeRealtime(client: Realtime | undefined): void {
    if (!client) return;
    // A stale client (already replaced by a newer connect()) must not touch the entries' new channels.
    if (realtime === client) {
      realtime = undefined;
      for (const entry of entries.values()) {
        entry.channel = undefined;
        entry.entered = false;
      }
    }
    client.close();
    // A token request started before close() can still complete and make the SDK reconnect
    // (Ably RTC8). A closed client stays closed.
    client.connection.on(['connecting', 'connected'], () => client.close());
  }

  function lost(client: Realtime, error: SwitchboardError): void {
    if (!live || realtime !== client) return;
    live = false;
    // The wrapper reconnects with its own backoff; stop the SDK's retries.
    queueMicrotask(() => closeRealtime(client));
    events.emit('drop', error);
  }

  /**
   * Reports the connection leaving `connected` as a drop — except Ably's token expiry
   * (DISCONNECTED with 40140-40149): the SDK renews the token and reconnects at once by
   * itself (RTN15h), which is the provider's own renewal path, so it gets connectTimeoutMs
   * to come back before the wrapper is told. Channels re-attached without continuity call
   * `onSubscribed` again, so missed events are recovered from history.
   */
  function watch(client: Realtime): void {
    let grace: ReturnType<typeof setTimeout> | undefined;
    client.connection.on((change) => {
      if (change.current === 'connected') {
        clearTimeout(grace);
        grace = undefined;
        return;
      }
      const error = authError ?? fromErrorInfo(change.reason, `Ably connection ${change.current}`);
      if (grace !== undefined && (change.current === 'connecting' || change.current === 'disconnected')) return;
      if (change.current === 'disconnected' && isTokenError(change.reason)) {
        grace = setTimeout(() => lost(client, error), context.connectTimeoutMs);
        return;
      }
      clearTimeout(grace);
      lost(client, error);
    });
  }

  function create({ Realtime, ErrorInfo }: Awaited<ReturnType<typeof loadAbly>>): Realtime {
    return new Realtime({
      clientId: config.clientId,
      authCallback: (_params, callback) => {
        fetchTokenRequest().then(
          (tokenRequest) => {
            authError = undefined;
            callback(null, tokenRequest);
          },
          (error: unknown) => {
            authError = error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error));
            // 403 fails the Ably connection (RSA4d); anything else lets it retry. The transport reports authError either way.
            callback(new ErrorInfo(authError.message, authError.status === 403 ? 40300 : 40170, authError.status === 403 ? 403 : 401), null);
          },
        );
      },
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.port === undefined ? {} : config.tls ? { tlsPort: config.port } : { port: config.port }),
      tls: config.tls,
      useBinaryProtocol: false,
      // Whispers are not delivered back to their sender, as on the Pusher protocol.
      echoMessages: false,
      autoConnect: false,
      realtimeRequestTimeout: context.connectTimeoutMs,
      // Errors reach the app through the wrapper (connection errors, channel errors, warnings).
      logLevel: 0,
    });
  }

  async function members(entry: Entry, channel: RealtimeChannel): Promise<PresenceMember[]> {
    const parsed = (await channel.presence.get()).flatMap((raw) => {
      const member = memberSchema.safeParse(raw);
      return member.success ? [member.data] : [];
    });
    // Our own enter may be acknowledged before Ably echoes it back.
    if (entry.entered && !parsed.some((member) => member.clientId === config.clientId)) parsed.push({ clientId: config.clientId, data: config.presenceData });
    // A user present on several connections shows the info entered or updated last (e.g. after a
    // refresh in one tab, or while a dropped connection's entry lingers for Ably's 15 s).
    const newestFirst = parsed.sort((a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0));
    return onePerClient(newestFirst).flatMap((member) => {
      const user = userOfClientId(tenant, member.clientId);
      const info = infoSchema.safeParse(member.data);
      return user === undefined ? [] : [{ id: user, info: info.success ? info.data : {} }];
    });
  }

  function isCurrent(client: Realtime, entry: Entry): boolean {
    return realtime === client && entries.get(entry.name) === entry;
  }

  function onMessage(entry: Entry, raw: unknown): void {
    const message = messageSchema.safeParse(raw);
    if (!message.success) return;
    const { name, clientId, data } = message.data;
    if (clientId) {
      const event = name?.startsWith(WHISPER_PREFIX) ? name.slice(WHISPER_PREFIX.length) : undefined;
      const from = userOfClientId(tenant, clientId);
      if (event !== undefined && from !== undefined && entry.whispers.includes(event)) entry.handlers.onClientEvent(event, data, from);
      return;
    }
    entry.handlers.onEvent(decodeData(data));
  }

  async function attach(client: Realtime, entry: Entry): Promise<void> {
    const channel = client.channels.get(entry.name);
    entry.channel = channel;
    let attached = false;
    // Failures while attaching are reported below, once; this catches the channel failing later.
    channel.on('failed', (change) => {
      if (attached && isCurrent(client, entry)) entry.handlers.onError(fromErrorInfo(change.reason, `Subscription to ${entry.name} failed`));
    });
    // Re-attached without continuity (after a reconnection the SDK made itself): recover from history.
    channel.on(['attached', 'update'], (change) => {
      if (attached && !change.resumed && change.current === 'attached' && isCurrent(client, entry)) entry.handlers.onSubscribed();
    });
    try {
      await channel.subscribe((message) => onMessage(entry, message));
      if (entry.presence) {
        await channel.presence.enter(config.presenceData);
        entry.entered = true;
        const publish = () => {
          members(entry, channel).then(
            (list) => {
              if (isCurrent(client, entry)) entry.handlers.onPresence(list);
            },
            () => undefined,
          );
        };
        await channel.presence.subscribe(publish);
        if (isCurrent(client, entry)) entry.handlers.onPresence(await members(entry, channel));
      }
    } catch (error) {
      if (isCurrent(client, entry)) entry.handlers.onError(fromErrorInfo(error, `Subscription to ${entry.name} failed`));
      return;
    }
    attached = true;
    if (isCurrent(client, entry)) entry.handlers.onSubscribed();
  }

  function allowWhisper(): boolean {
    const now = Date.now();
    while (whisperTimes.length > 0 && (whisperTimes[0] ?? 0) <= now - 1000) whisperTimes.shift();
    if (whisperTimes.length >= WHISPERS_PER_SECOND) return false;
    whisperTimes.push(now);
    return true;
  }

  return {
    kind: 'ably',
    features: { presence: true, clientEvents: true, presenceInfo: 'token' },

    async connect() {
      if (realtime && live && realtime.connection.state === 'connected') return;
      closeRealtime(realtime);
      const client = create(await loadAbly());
      realtime = client;
      authError = undefined;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(new SwitchboardError('provider_unavailable', 'Ably connection timed out')), context.connectTimeoutMs);
        const onState = (change: AblyModule.ConnectionStateChange) => {
          if (change.current === 'connected') settle();
          else if (change.current !== 'connecting' && change.current !== 'initialized') settle(authError ?? fromErrorInfo(change.reason, `Ably connection ${change.current}`));
        };
        function settle(error?: SwitchboardError) {
          clearTimeout(timer);
          client.connection.off(onState);
          if (error) {
            closeRealtime(client);
            reject(error);
            return;
          }
          live = true;
          watch(client);
          for (const entry of entries.values()) void attach(client, entry);
          resolve();
        }
        client.connection.on(onState);
        client.connect();
      });
    },

    disconnect() {
      live = false;
      closeRealtime(realtime);
    },

    onDrop: (listener) => events.on('drop', listener),

    onWarning: (listener) => events.on('warning', listener),

    subscribe(target: TransportTarget, handlers: TransportChannelHandlers): TransportSubscription {
      const name = toAblyChannel(tenant, target.channel);
      if (entries.has(name)) throw new SwitchboardError('invalid_request', `Already subscribed to ${target.channel}`);
      const namespace = target.channel.slice(0, target.channel.indexOf(':'));
      const whispers = Object.hasOwn(config.clientEvents, namespace) ? (config.clientEvents[namespace] ?? []) : [];
      const entry: Entry = { name, presence: target.presence, handlers, whispers, entered: false };
      entries.set(name, entry);
      if (realtime && live) void attach(realtime, entry);
      return {
        whisper(event: string, data: JsonValue) {
          const channel = entry.channel;
          if (!live || !channel || channel.state !== 'attached') return false;
          if (!allowWhisper()) {
            warn(new SwitchboardError('rate_limited', `Whisper "${event}" dropped: over ${WHISPERS_PER_SECOND} whispers per second`));
            return true;
          }
          channel.publish(`${WHISPER_PREFIX}${event}`, data).catch((error: unknown) => warn(fromErrorInfo(error, `Whisper "${event}" refused`, 'invalid_request')));
          return true;
        },
        unsubscribe() {
          if (entries.get(name) !== entry) return;
          entries.delete(name);
          const channel = entry.channel;
          entry.channel = undefined;
          if (!channel) return;
          channel.off();
          channel.unsubscribe();
          if (entry.entered) {
            channel.presence.unsubscribe();
            channel.presence.leave().catch(() => undefined);
          }
          channel.detach().catch(() => undefined);
        },
      };
    },

    updateToken(token: ClientTokenInfo) {
      const next = configSchema.safeParse(token.provider);
      if (next.success) {
        const changed = JSON.stringify(next.data.presenceData) !== JSON.stringify(config.presenceData);
        config = next.data;
        // The identity's info changed (e.g. a new display name): update the entered members.
        if (changed) for (const entry of entries.values()) if (entry.entered) entry.channel?.presence.update(config.presenceData).catch(() => undefined);
      }
      // Re-authorize in place: Ably swaps the token (and capability) without dropping the connection.
      // While the SDK is reconnecting it authorizes by itself; a second request would only race it.
      if (realtime && live && realtime.connection.state === 'connected') realtime.auth.authorize().catch(() => undefined);
    },

    close() {
      live = false;
      entries.clear();
      events.clear();
      closeRealtime(realtime);
    },
  };
};
