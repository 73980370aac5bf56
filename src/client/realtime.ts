/** `connect()`: the entry point of the client wrapper. */
import { parseChannelName } from '../core/channels.js';
import { SwitchboardError } from '../core/errors.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { Channel, type EventSchemas } from './channel.js';
import { ChannelCore } from './channel-core.js';
import { checkSubscribe } from './checks.js';
import { Supervisor, type ConnectionState } from './connection.js';
import { toSwitchboardError } from './errors.js';
import { fetchHistory, type Bff } from './http.js';
import { TokenManager, type SessionSource } from './token-manager.js';
import type { TransportFactories } from './transports.js';

export interface ConnectOptions {
  /** The BFF's base URL, e.g. `https://app.example/rt`. */
  url: string;
  /**
   * The app's session token (or a function returning it), exchanged at `/v1/token`. Leave it
   * out when the app's login is a cookie on the BFF's origin: the token request carries it.
   */
  session?: SessionSource;
  /** `sse`: receive over the BFF's event stream only (one-way feeds; no presence or whispers). */
  transport?: 'auto' | 'sse';
  /** Failed provider connection attempts in a row before falling back to SSE; 0 disables. Default 2. */
  fallbackAfterAttempts?: number;
  /** While on the SSE fallback, how often to try the provider again and switch back. Default 30 s. */
  upgradeProbeMs?: number;
  /** Reconnect backoff: full jitter between 0 and min(maxMs, baseMs * 2^attempt). Default 1 s .. 30 s. */
  reconnect?: Partial<BackoffOptions>;
  /** How long one connection attempt may take. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * A presence member that leaves and is back within this time is reported as one change
   * (e.g. another user re-entering with new info after their `refresh()`), so a real leave
   * shows this much later. Default 1000 ms; 0 reports leaves at once; at most 60 000.
   */
  presenceLeaveGraceMs?: number;
  fetch?: typeof fetch;
  /** Replace or add provider transports (custom providers, tests). */
  transports?: TransportFactories;
}

export interface ChannelOptions<E extends EventSchemas> {
  /** A schema per event name: handlers get the parsed type, invalid events become `error`s. */
  events?: E;
  /** Resume after this seq (e.g. stored from `meta.seq`): missed events come from history first. */
  since?: number;
}

export interface ConnectionView {
  readonly state: ConnectionState;
  /** Why the connection is not (or no longer) connected. */
  readonly error: SwitchboardError | undefined;
  /** `pusher`, `sse`, …; undefined before the first token. */
  readonly transport: string | undefined;
  on(event: 'change', listener: (state: ConnectionState, error: SwitchboardError | undefined) => void): () => void;
  /** The provider refused something but kept the connection, e.g. whispers over its rate limit (`rate_limited`). */
  on(event: 'warning', listener: (error: SwitchboardError) => void): () => void;
}

export interface Realtime {
  channel<E extends EventSchemas = EventSchemas>(name: string, options?: ChannelOptions<E>): Channel<E>;
  readonly connection: ConnectionView;
  /** Resolves once connected the first time; rejects if the client fails (e.g. the session is rejected). */
  ready(): Promise<void>;
  /**
   * Asks the BFF for a new capability token now, with the session `session` answers now
   * (call it after the user's displayed info — name, avatar, status — changed in the app
   * session). Presence then shows the info the BFF signs from it, to everyone, without a
   * reconnect: see the README for how each provider applies it. Resolves once the new
   * token is in use. Rejects (e.g. `unauthenticated` when the BFF refuses the session)
   * without touching the connection, the current token or the presence membership.
   */
  refresh(): Promise<void>;
  /** The user and tenant the BFF issued the token for, once known. */
  readonly identity: { user: string; tenant: string } | undefined;
  close(): void;
}

const MAX_LEAVE_GRACE_MS = 60_000;

export function connect(options: ConnectOptions): Realtime {
  const grace = options.presenceLeaveGraceMs;
  if (grace !== undefined && !(Number.isFinite(grace) && grace >= 0 && grace <= MAX_LEAVE_GRACE_MS)) {
    throw new SwitchboardError('invalid_request', `presenceLeaveGraceMs must be a number of milliseconds from 0 to ${MAX_LEAVE_GRACE_MS}`);
  }
  const bff: Bff = { baseUrl: options.url.replace(/\/+$/, ''), fetch: options.fetch ?? globalThis.fetch.bind(globalThis) };
  const tokens = new TokenManager(bff, options.session);
  const supervisor = new Supervisor({
    bff,
    tokens,
    backoff: { ...DEFAULT_BACKOFF, ...options.reconnect },
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    transport: options.transport ?? 'auto',
    fallbackAfterAttempts: options.fallbackAfterAttempts ?? 2,
    upgradeProbeMs: options.upgradeProbeMs ?? 30_000,
    transports: options.transports ?? {},
  });
  const cores = new Map<string, ChannelCore>();
  const host = {
    token: () => tokens.current,
    transport: () => supervisor.transport,
    async history(channel: string, since: number, limit: number) {
      try {
        return await fetchHistory(bff, (await tokens.get()).token, channel, since, limit);
      } catch (error) {
        if (!(error instanceof SwitchboardError) || error.status !== 401) throw error;
        return fetchHistory(bff, (await tokens.get(true)).token, channel, since, limit);
      }
    },
  };
  supervisor.events.on('transport', () => {
    for (const core of cores.values()) core.transportChanged();
  });

  const connection: ConnectionView = {
    get state() {
      return supervisor.state;
    },
    get error() {
      return supervisor.error;
    },
    get transport() {
      return supervisor.transport?.kind;
    },
    on: ((event: 'change' | 'warning', listener: (...args: never[]) => void) =>
      event === 'warning'
        ? supervisor.events.on('warning', listener as (error: SwitchboardError) => void)
        : supervisor.events.on('change', listener as (state: ConnectionState, error: SwitchboardError | undefined) => void)) as ConnectionView['on'],
  };

  const ready = new Promise<void>((resolve, reject) => {
    const off = supervisor.events.on('change', (state, error) => {
      if (state === 'connected') resolve();
      else if (state === 'failed' || state === 'disconnected') reject(error ?? new Error('Client closed before connecting'));
      else return;
      off();
    });
  });
  // Callers that never await ready() must not see an unhandled rejection.
  ready.catch(() => undefined);
  supervisor.start();

  return {
    channel<E extends EventSchemas = EventSchemas>(name: string, channelOptions: ChannelOptions<E> = {}): Channel<E> {
      parseChannelName(name);
      const token = tokens.current;
      if (token) checkSubscribe(token, name);
      let core = cores.get(name);
      if (!core) {
        core = new ChannelCore(name, host, {
          ...(channelOptions.since !== undefined ? { since: channelOptions.since } : {}),
          ...(options.presenceLeaveGraceMs !== undefined ? { leaveGraceMs: options.presenceLeaveGraceMs } : {}),
        });
        cores.set(name, core);
      }
      return new Channel(core, channelOptions.events ?? ({} as E));
    },
    connection,
    ready: () => ready,
    async refresh() {
      try {
        await tokens.renew();
      } catch (error) {
        throw toSwitchboardError(error);
      }
    },
    get identity() {
      const token = tokens.current;
      return token ? { user: token.user, tenant: token.tenant } : undefined;
    },
    close() {
      // The connection first: closing it ends every subscription on the server, so the
      // channels need not send their own unsubscribes (pusher-js would queue them onto a
      // socket that is already closing, and the browser warns once per channel).
      supervisor.close();
      for (const core of cores.values()) core.close();
      cores.clear();
    },
  };
}
