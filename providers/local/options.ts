import { z } from 'zod';
import { parseProviderEnv } from '../env-options.js';
import { DEFAULT_ADDRESS_POLICY, type AddressPolicy } from '../../src/server/net/client-address.js';
import { descriptorBudget, openFilesLimit } from '../../src/server/net/descriptors.js';
import type { Refusals } from '../../src/server/net/refusals.js';

export const DEV_APP_ID = 'switchboard';
export const DEV_APP_KEY = 'switchboard-key';
export const DEV_APP_SECRET = 'switchboard-secret';

/** What the provider logs through (pino's Logger fits). */
export interface LocalLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
  warn?(details: object, message: string): void;
}

export interface LocalProviderOptions {
  appId: string;
  key: string;
  /** HMAC secret for channel authorization and the HTTP API. Never logged. */
  secret: string;
  /** Connections across all nodes (scale-out). Default: none beyond each node's `descriptorCap`. */
  maxConnections: number;
  /** This node's cap from its open-files limit, whatever `maxConnections` says (see src/server/net/descriptors.ts). */
  descriptorCap: number;
  /** A new connection must subscribe (private/presence) or sign in within this, else it is closed with 4009 (as Pusher's authorized connections). */
  authTimeoutSeconds: number;
  /** Connections that have not yet subscribed or signed in; keeps the cap out of reach of anonymous sockets. Default: a quarter of the cap. */
  maxUnauthenticatedConnections?: number;
  /** Connections one address (see addressPolicy) may hold open. */
  maxConnectionsPerAddress: number;
  /** New connections one address may open per second, after a burst of `connectionBurstPerAddress`. */
  connectionRatePerAddress: number;
  connectionBurstPerAddress: number;
  /** Whose `X-Forwarded-For` is believed, and how IPv6 addresses are grouped. */
  addressPolicy: AddressPolicy;
  /** Where refusals are counted and logged (shared with the BFF's /metrics); a private one when unset. */
  refusals?: Refusals;
  maxChannelsPerConnection: number;
  /** Default for presence channels whose signed authorization names no namespace limit (Pusher: 100). */
  presenceMaxMembers: number;
  /** Default largest JSON `user_info` of a presence member (Pusher: 1 KB). */
  presenceMaxUserInfoBytes: number;
  /** Client events a connection may send per second (Pusher: 10); excess gets `pusher:error` 4301. */
  clientEventRate: number;
  /**
   * Which client events a subscriber may send: `signed` = only the names its channel
   * authorization lists (what Switchboard's BFF signs); `any` = every `client-*` event, as
   * hosted Pusher does once client events are enabled for the app (for apps whose own
   * server signs subscriptions, e.g. when this server stands in for Pusher).
   */
  clientEvents: 'signed' | 'any';
  /** Largest WebSocket frame a client may send. */
  maxFrameBytes: number;
  /** Largest event `data` string (the JSON envelope around the published data) `publish` delivers, as hosted Pusher limits it to 10 KB. */
  maxPayloadBytes: number;
  /** Largest `data` string accepted by the Pusher HTTP API (Pusher: 10 KB). */
  apiMaxDataBytes: number;
  /** Largest HTTP API request body. */
  apiMaxBodyBytes: number;
  /** Sent in the handshake; the server pings a client that stayed silent this long. */
  activityTimeoutSeconds: number;
  /** After a server ping, how long the client has to answer before it is closed with 4201. */
  pongTimeoutSeconds: number;
  /** Outgoing bytes a connection may have queued before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /**
   * Under continuous traffic, the longest a frame waits so that several events share one
   * write per socket (see outbox.ts). 0 = flush on every event-loop turn.
   */
  maxFlushDelayMs: number;
  /**
   * Longest stretch of socket writes before a fan-out yields to the event loop, so health
   * checks, token requests and small channels are served during a big broadcast.
   */
  fanOutSliceMs: number;
  /** Channel-authorization expiry checks; tests override it. */
  now: () => number;
  /**
   * Redis for scale-out across BFF nodes (see scale-out.ts): publishes reach subscribers
   * on every node. Unset: single node, nothing leaves the process.
   */
  redisUrl?: string;
  /** The app's pub/sub channel is `<redisKeyPrefix><appId>:events`. */
  redisKeyPrefix: string;
  /** Scale-out heartbeat; a node silent for three intervals is dropped with its presence members. */
  heartbeatMs: number;
  /** Scale-out connection losses and recoveries; defaults to the console. */
  logger?: LocalLogger;
}

const DESCRIPTOR_CAP = descriptorBudget(openFilesLimit()).connectionCap;

export const DEFAULT_LOCAL_OPTIONS: LocalProviderOptions = {
  appId: DEV_APP_ID,
  key: DEV_APP_KEY,
  secret: DEV_APP_SECRET,
  maxConnections: Number.POSITIVE_INFINITY,
  descriptorCap: DESCRIPTOR_CAP,
  authTimeoutSeconds: 30,
  maxConnectionsPerAddress: 1000,
  connectionRatePerAddress: 20,
  connectionBurstPerAddress: 100,
  addressPolicy: DEFAULT_ADDRESS_POLICY,
  maxChannelsPerConnection: 100,
  presenceMaxMembers: 100,
  presenceMaxUserInfoBytes: 1024,
  clientEventRate: 10,
  clientEvents: 'signed',
  maxFrameBytes: 32 * 1024,
  maxPayloadBytes: 64 * 1024,
  apiMaxDataBytes: 10 * 1024,
  apiMaxBodyBytes: 1024 * 1024,
  activityTimeoutSeconds: 30,
  pongTimeoutSeconds: 30,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxFlushDelayMs: 5,
  fanOutSliceMs: 5,
  now: Date.now,
  redisKeyPrefix: 'sb:local:',
  heartbeatMs: 5_000,
};

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max).optional();
const seconds = z.coerce.number().positive().max(3600).optional();
const credential = (pattern: RegExp) => z.string().regex(pattern).optional();

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  LOCAL_APP_ID: credential(/^[A-Za-z0-9_-]{1,64}$/),
  LOCAL_APP_KEY: credential(/^[A-Za-z0-9_-]{1,64}$/),
  LOCAL_APP_SECRET: z.string().min(8).max(256).optional(),
  LOCAL_MAX_CONNECTIONS: int(1, 10_000_000),
  LOCAL_AUTH_TIMEOUT_SECONDS: seconds,
  LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS: int(1, 10_000_000),
  LOCAL_MAX_CONNECTIONS_PER_ADDRESS: int(1, 10_000_000),
  LOCAL_CONNECTION_RATE_PER_ADDRESS: int(1, 1_000_000),
  LOCAL_CONNECTION_BURST_PER_ADDRESS: int(1, 1_000_000),
  LOCAL_MAX_CHANNELS_PER_CONNECTION: int(1, 100_000),
  LOCAL_PRESENCE_MAX_MEMBERS: int(1, 100_000),
  LOCAL_PRESENCE_MAX_USER_INFO_BYTES: int(1, 1024 * 1024),
  LOCAL_CLIENT_EVENT_RATE: int(1, 100_000),
  LOCAL_MAX_FRAME_BYTES: int(1024, 16 * 1024 * 1024),
  LOCAL_MAX_PAYLOAD_BYTES: int(1, 16 * 1024 * 1024),
  LOCAL_API_MAX_DATA_BYTES: int(1, 16 * 1024 * 1024),
  LOCAL_API_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024),
  LOCAL_ACTIVITY_TIMEOUT_SECONDS: seconds,
  LOCAL_PONG_TIMEOUT_SECONDS: seconds,
  LOCAL_MAX_BUFFERED_BYTES: int(64 * 1024, 1024 * 1024 * 1024),
  LOCAL_MAX_FLUSH_DELAY_MS: z.coerce.number().min(0).max(1000).optional(),
  LOCAL_FANOUT_SLICE_MS: z.coerce.number().min(1).max(1000).optional(),
  LOCAL_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  LOCAL_CLIENT_EVENTS: z.enum(['signed', 'any']).optional(),
});

/**
 * Reads the local provider's settings from the environment. Outside production the
 * credentials default to well-known dev values; in production they must be set and differ.
 */
export function localProviderOptionsFromEnv(env: Record<string, string | undefined> = process.env): LocalProviderOptions {
  const e = parseProviderEnv(envSchema, env, 'local');
  if (e.NODE_ENV === 'production') {
    const defaults: [string, string | undefined, string][] = [
      ['LOCAL_APP_ID', e.LOCAL_APP_ID, DEV_APP_ID],
      ['LOCAL_APP_KEY', e.LOCAL_APP_KEY, DEV_APP_KEY],
      ['LOCAL_APP_SECRET', e.LOCAL_APP_SECRET, DEV_APP_SECRET],
    ];
    const problems = defaults
      .filter(([, value, devDefault]) => value === undefined || value === devDefault)
      .map(([name]) => `${name} must be set to a non-default value when NODE_ENV=production`);
    if (!problems.some((problem) => problem.startsWith('LOCAL_APP_SECRET')) && (e.LOCAL_APP_SECRET ?? '').length < 32) problems.push('LOCAL_APP_SECRET must be at least 32 characters when NODE_ENV=production');
    // One line each: the start-up check reports them all at once.
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }
  const d = DEFAULT_LOCAL_OPTIONS;
  const maxConnections = e.LOCAL_MAX_CONNECTIONS ?? d.maxConnections;
  const unauthenticated = e.LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS;
  const cap = Math.min(maxConnections, d.descriptorCap);
  if (unauthenticated !== undefined && unauthenticated >= cap) {
    throw new Error(`Invalid LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS: must be below the connection cap (${cap}), so that connections that signed in always have room`);
  }
  return {
    ...d,
    appId: e.LOCAL_APP_ID ?? d.appId,
    key: e.LOCAL_APP_KEY ?? d.key,
    secret: e.LOCAL_APP_SECRET ?? d.secret,
    maxConnections,
    authTimeoutSeconds: e.LOCAL_AUTH_TIMEOUT_SECONDS ?? d.authTimeoutSeconds,
    ...(unauthenticated === undefined ? {} : { maxUnauthenticatedConnections: unauthenticated }),
    maxConnectionsPerAddress: e.LOCAL_MAX_CONNECTIONS_PER_ADDRESS ?? d.maxConnectionsPerAddress,
    connectionRatePerAddress: e.LOCAL_CONNECTION_RATE_PER_ADDRESS ?? d.connectionRatePerAddress,
    connectionBurstPerAddress: e.LOCAL_CONNECTION_BURST_PER_ADDRESS ?? d.connectionBurstPerAddress,
    maxChannelsPerConnection: e.LOCAL_MAX_CHANNELS_PER_CONNECTION ?? d.maxChannelsPerConnection,
    presenceMaxMembers: e.LOCAL_PRESENCE_MAX_MEMBERS ?? d.presenceMaxMembers,
    presenceMaxUserInfoBytes: e.LOCAL_PRESENCE_MAX_USER_INFO_BYTES ?? d.presenceMaxUserInfoBytes,
    clientEventRate: e.LOCAL_CLIENT_EVENT_RATE ?? d.clientEventRate,
    clientEvents: e.LOCAL_CLIENT_EVENTS ?? d.clientEvents,
    maxFrameBytes: e.LOCAL_MAX_FRAME_BYTES ?? d.maxFrameBytes,
    maxPayloadBytes: e.LOCAL_MAX_PAYLOAD_BYTES ?? d.maxPayloadBytes,
    apiMaxDataBytes: e.LOCAL_API_MAX_DATA_BYTES ?? d.apiMaxDataBytes,
    apiMaxBodyBytes: e.LOCAL_API_MAX_BODY_BYTES ?? d.apiMaxBodyBytes,
    activityTimeoutSeconds: e.LOCAL_ACTIVITY_TIMEOUT_SECONDS ?? d.activityTimeoutSeconds,
    pongTimeoutSeconds: e.LOCAL_PONG_TIMEOUT_SECONDS ?? d.pongTimeoutSeconds,
    maxBufferedBytes: e.LOCAL_MAX_BUFFERED_BYTES ?? d.maxBufferedBytes,
    maxFlushDelayMs: e.LOCAL_MAX_FLUSH_DELAY_MS ?? d.maxFlushDelayMs,
    fanOutSliceMs: e.LOCAL_FANOUT_SLICE_MS ?? d.fanOutSliceMs,
    ...(e.LOCAL_REDIS_URL === undefined ? {} : { redisUrl: e.LOCAL_REDIS_URL }),
  };
}
