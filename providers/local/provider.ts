/**
 * The embedded `local` provider: a Pusher Channels protocol v7 server inside the BFF.
 * `attach()` serves WebSockets on `/app/{key}`, `routes()` the Pusher HTTP API, and
 * `publish()` fans envelopes out in-process.
 *
 * With `redisUrl` (scale-out, see scale-out.ts) everything delivered here — pipeline
 * publishes, HTTP API events, client events — also goes to the other nodes' sockets, and
 * presence members are shared across nodes.
 */
import type { Server as HttpServer } from 'node:http';
import type { Router } from 'express';
import { SwitchboardError } from '../../src/core/errors.js';
import type { JsonValue } from '../../src/core/envelope.js';
import type { ComponentHealth } from '../../src/core/health.js';
import { fromPusherChannel, toPusherChannel, toPusherUserId } from '../../src/core/provider-names.js';
import type { ProviderClientConfig } from '../../src/core/token-response.js';
import { SERVER_TO_USER_PREFIX, SOCKET_ID_PATTERN, signChannel, signUser } from '../pusher-protocol/index.js';
import type {
  ChannelAuthorizationRequest,
  ClientGrant,
  EventLogReader,
  Occupancy,
  PresenceMember,
  ProviderMessage,
  PusherChannelAuthorization,
  PusherUserAuthentication,
  RevocationCheck,
  ServerProvider,
  TenantStats,
  WebhookEvent,
} from '../types.js';
import { envelopeDataProblem, largestEnvelopeDataProblem } from '../envelope-size.js';
import { ProviderPublishError } from '../publish-error.js';
import type { Connection } from './connection.js';
import { clientEventFrame, textFrame } from './frames.js';
import { createHttpApiRouter } from './http-api.js';
import { Hub } from './hub.js';
import { LocalLifecycle } from './lifecycle.js';
import { RemoteCounts } from './remote-counts.js';
import { localCounts, tenantStats } from './stats.js';
import { DEFAULT_LOCAL_OPTIONS, type LocalLogger, type LocalProviderOptions } from './options.js';
import { RemotePresence } from './remote-presence.js';
import { ScaleOut, type ScaleOutStats } from './scale-out.js';
import { SocketServer } from './socket-server.js';

export const PUSHER_AUTH_ENDPOINT = '/v1/auth/pusher';
const LOCAL_MAX_BATCH_SIZE = 1000;

export interface LocalServerStats {
  connections: number;
  channels: number;
}

export interface LocalProvider extends ServerProvider {
  readonly name: 'local';
  authorizeChannel(request: ChannelAuthorizationRequest): PusherChannelAuthorization;
  authenticateUser(request: { grant: ClientGrant; socketId: string }): PusherUserAuthentication;
  sendToUser(tenant: string, user: string, event: string, data: JsonValue): Promise<void>;
  terminateUser(tenant: string, user: string): Promise<void>;
  /** Cache namespaces replay the channel's last event from this log. */
  useEventLog(log: EventLogReader): void;
  /** BFF-signed authorizations of users terminated since are refused (and their connection closed). */
  useRevocations(isRevoked: RevocationCheck): void;
  /** Members on every node under scale-out (as this node last heard from the others). */
  presence(tenant: string, channel: string): Promise<PresenceMember[]>;
  /** Cluster-wide under scale-out (other nodes' counts as last reported). */
  occupancy(tenant: string, channel: string): Promise<Occupancy>;
  attach(server: HttpServer): void;
  /** The Pusher HTTP API (`/apps/{app_id}/…`), to mount at the BFF root. */
  routes(): Router;
  /** Connections and channels per tenant, cluster-wide under scale-out. */
  stats(): TenantStats[];
  /** Totals for metrics: this node's open connections and occupied channels. */
  serverStats(): LocalServerStats;
  /** Redis scale-out counters; undefined without `redisUrl`. */
  scaleOutStats(): ScaleOutStats | undefined;
}

function presenceTwin(privateName: string): string {
  return `presence-${privateName.slice('private-'.length)}`;
}

/** Both provider names a tenant channel can have; which one is used depends on the namespace. */
function pusherNames(tenant: string, channel: string): [privateName: string, presenceName: string] {
  const privateName = toPusherChannel(tenant, channel, false);
  return [privateName, presenceTwin(privateName)];
}

const consoleLogger: LocalLogger = {
  info: (details, message) => console.info(message, details),
  error: (details, message) => console.error(message, details),
};

function grantKey(tenant: string, user: string): string {
  return `${tenant}\u0000${user}`;
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** How size refusals name this provider. */
const LOCAL_SERVER = 'the local server';

export function createLocalProvider(overrides: Partial<LocalProviderOptions> = {}): LocalProvider {
  const options: LocalProviderOptions = { ...DEFAULT_LOCAL_OPTIONS, ...overrides };
  const credentials = { key: options.key, secret: options.secret };
  const limits = { maxChannelsPerConnection: options.maxChannelsPerConnection, presenceMaxMembers: options.presenceMaxMembers };
  // Scale-out: what this node knows of the others.
  const remote = options.redisUrl === undefined ? undefined : { presence: new RemotePresence(), counts: new RemoteCounts() };
  // Created last (it needs the hub), reached through this variable by the hooks below.
  let scaleOut: ScaleOut | undefined;
  const lifecycle = new LocalLifecycle();
  const hub = new Hub(
    limits,
    remote && {
      remote: remote.presence,
      counts: remote.counts,
      countsChanged: () => scaleOut?.countsChanged(),
      joined: (channel, userId, info) => scaleOut?.joined(channel, userId, info),
      left: (channel, userId) => scaleOut?.left(channel, userId),
    },
    lifecycle,
    options.now,
  );
  let eventLog: EventLogReader | undefined;
  let revocations: RevocationCheck | undefined;
  const sockets = new SocketServer(options, hub, {
    ...(remote && {
      cluster: { connections: () => remote.counts.connections(), changed: () => scaleOut?.countsChanged() },
      relayClientEvent: (channel, event, data, userId) => scaleOut?.publishClientEvent(channel, event, data, userId),
    }),
    ...(remote && {
      admitMember: (channel, userId, maxMembers) => scaleOut?.admit(channel, userId, maxMembers) ?? Promise.resolve(undefined),
      releaseMember: (channel, userId) => {
        if (!hub.isMemberHere(channel, userId)) scaleOut?.release(channel, userId);
      },
    }),
    isRevoked: (tenant, user, issuedAt) => (revocations ? revocations(tenant, user, issuedAt) : Promise.resolve(false)),
    lastEvent: async (name) => {
      const target = fromPusherChannel(name);
      const envelope = target && (await eventLog?.last(target.tenant, target.channel));
      return envelope ? { event: envelope.event, data: JSON.stringify(envelope) } : undefined;
    },
  });

  /** Delivers to this node's sockets only. */
  const deliverHere = (channel: string, event: string, data: string, excludeSocketId: string | undefined): void => {
    if (!hub.has(channel)) return;
    const exclude = excludeSocketId === undefined ? undefined : sockets.connection(excludeSocketId);
    // Serialized and framed once; every subscriber gets the same Buffer.
    hub.publish(channel, textFrame(JSON.stringify({ event, channel, data })), exclude);
  };

  /** Pipeline envelopes: the namespace decides private vs presence; only one of the two can have subscribers. */
  const deliverEnvelopeHere = (privateName: string, event: string, data: string, excludeSocketId: string | undefined): void => {
    for (const name of [privateName, presenceTwin(privateName)]) deliverHere(name, event, data, excludeSocketId);
  };

  const deliver = (channel: string, event: string, data: string, excludeSocketId: string | undefined): void => {
    deliverHere(channel, event, data, excludeSocketId);
    scaleOut?.publishEvent('event', channel, event, data, excludeSocketId);
  };

  /**
   * Closes the connections signed in as `userId`; with a Switchboard `scope`, also those
   * holding that user's channel authorizations in the tenant (the wrapper need not sign in).
   */
  const terminateHere = (userId: string, scope: { tenant: string; user: string } | undefined): void => {
    const holdsGrant = scope
      ? (connection: Connection) =>
          connection.authorizedUsers?.has(grantKey(scope.tenant, scope.user)) === true ||
          [...connection.subscriptions.values()].some(
            (subscription) => subscription.userId === scope.user && fromPusherChannel(subscription.channel)?.tenant === scope.tenant,
          )
      : undefined;
    sockets.terminate(userId, holdsGrant);
  };

  /** Tags this node's socket as holding `user`'s authorization; false when the socket is not here. */
  const markAuthorized = (socketId: string, tenant: string, user: string): boolean => {
    const connection = sockets.connection(socketId);
    if (connection) (connection.authorizedUsers ??= new Set()).add(grantKey(tenant, user));
    return connection !== undefined;
  };

  const terminate = (userId: string, scope: { tenant: string; user: string } | undefined): void => {
    terminateHere(userId, scope);
    scaleOut?.publishTerminate(userId, scope);
  };

  if (remote && options.redisUrl !== undefined) {
    scaleOut = new ScaleOut(
      {
        redisUrl: options.redisUrl,
        topic: `${options.redisKeyPrefix}${options.appId}:events`,
        presenceKeyPrefix: `${options.redisKeyPrefix}${options.appId}:presence:`,
        heartbeatMs: options.heartbeatMs,
        logger: options.logger ?? consoleLogger,
      },
      {
        deliver: (kind, channel, event, data, excludeSocketId) =>
          (kind === 'event' ? deliverHere : deliverEnvelopeHere)(channel, event, data, excludeSocketId),
        deliverClientEvent: (channel, event, data, userId) => {
          if (hub.has(channel)) hub.publish(channel, clientEventFrame(event, channel, data, userId));
        },
        presenceChanged: (change) => {
          if (change.kind === 'added') hub.remoteJoined(change.channel, change.userId, change.info);
          else if (change.kind === 'removed') hub.remoteLeft(change.channel, change.userId);
          else hub.remoteInfoChanged(change.channel, change.userId, change.info, change.kind === 'changed');
        },
        localMembers: () => hub.localMembers(),
        terminate: terminateHere,
        authorized: (socketId, tenant, user) => void markAuthorized(socketId, tenant, user),
        localCounts: () => localCounts(hub, sockets.stats.connections),
      },
      remote.presence,
      remote.counts,
    );
  }

  return {
    name: 'local',
    limits: { maxPayloadBytes: options.maxPayloadBytes, maxBatchSize: LOCAL_MAX_BATCH_SIZE },

    channelName: toPusherChannel,

    // The frame's `data` is the JSON envelope, held to maxPayloadBytes as Pusher holds its to 10 KB.
    payloadProblem: (event) => largestEnvelopeDataProblem(event, options.maxPayloadBytes, LOCAL_SERVER),

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      for (const [index, { tenant, envelope, excludeSocketId }] of messages.entries()) {
        const data = JSON.stringify(envelope);
        const tooLarge = envelopeDataProblem(data, options.maxPayloadBytes, LOCAL_SERVER);
        if (tooLarge) throw new ProviderPublishError(`Event ${envelope.id} is ${tooLarge}`, index, true);
        const privateName = toPusherChannel(tenant, envelope.channel, false);
        if (!scaleOut && !hub.has(privateName) && !hub.has(presenceTwin(privateName))) continue;
        deliverEnvelopeHere(privateName, envelope.event, data, excludeSocketId);
        // Other nodes may have subscribers even where this one has none.
        scaleOut?.publishEvent('envelope', privateName, envelope.event, data, excludeSocketId);
      }
    },

    useEventLog(log: EventLogReader): void {
      eventLog = log;
    },

    useRevocations(isRevoked: RevocationCheck): void {
      revocations = isRevoked;
    },

    async clientConfig(_grant: ClientGrant, context: { publicUrl: string }): Promise<ProviderClientConfig> {
      const url = new URL(context.publicUrl);
      return {
        name: 'local',
        key: options.key,
        cluster: 'local',
        wsHost: url.hostname,
        wsPort: portOf(url),
        forceTLS: url.protocol === 'https:',
        authEndpoint: PUSHER_AUTH_ENDPOINT,
      };
    },

    authorizeChannel(request: ChannelAuthorizationRequest): PusherChannelAuthorization {
      const { grant, socketId, channel, providerChannel, presence, clientEvents, presenceLimits, cache } = request;
      if (!SOCKET_ID_PATTERN.test(socketId)) throw new SwitchboardError('invalid_request', 'socket_id must look like 123.456');
      if (toPusherChannel(grant.tenant, channel, presence) !== providerChannel) {
        throw new SwitchboardError('forbidden', 'Channel does not belong to the token tenant');
      }
      // Signed for private channels too (pusher-js sends channel_data whenever the auth
      // response has it), so the allowed client events in `sb.ce` cannot be forged.
      const channelData = JSON.stringify({
        user_id: grant.user,
        user_info: grant.info,
        sb: {
          ce: clientEvents,
          exp: grant.expiresAt,
          ...(grant.issuedAt !== undefined ? { iat: grant.issuedAt } : {}),
          ...(presenceLimits ? { pm: presenceLimits.maxMembers, pi: presenceLimits.maxInfoBytes } : {}),
          ...(cache ? { c: 1 } : {}),
        },
      });
      const signed = signChannel(credentials, socketId, providerChannel, channelData);
      // The socket now holds the user's authorization: a terminate closes it even before it subscribes.
      if (!markAuthorized(socketId, grant.tenant, grant.user)) scaleOut?.publishAuthorized(socketId, grant.tenant, grant.user);
      return { auth: signed.auth, channel_data: channelData };
    },

    authenticateUser({ grant, socketId }: { grant: ClientGrant; socketId: string }): PusherUserAuthentication {
      if (!SOCKET_ID_PATTERN.test(socketId)) throw new SwitchboardError('invalid_request', 'socket_id must look like 123.456');
      const sb = { exp: grant.expiresAt, ...(grant.issuedAt !== undefined ? { iat: grant.issuedAt } : {}) };
      return signUser(credentials, socketId, JSON.stringify({ id: toPusherUserId(grant.tenant, grant.user), user_info: grant.info, sb }));
    },

    async sendToUser(tenant: string, user: string, event: string, data: JsonValue): Promise<void> {
      deliver(`${SERVER_TO_USER_PREFIX}${toPusherUserId(tenant, user)}`, event, JSON.stringify(data), undefined);
    },

    async terminateUser(tenant: string, user: string): Promise<void> {
      terminate(toPusherUserId(tenant, user), { tenant, user });
    },

    async presence(tenant: string, channel: string): Promise<PresenceMember[]> {
      const [, presenceName] = pusherNames(tenant, channel);
      return hub.members(presenceName);
    },

    async occupancy(tenant: string, channel: string): Promise<Occupancy> {
      const [privateName, presenceName] = pusherNames(tenant, channel);
      const presenceInfo = hub.info(presenceName);
      if (presenceInfo) return { subscribers: presenceInfo.subscriptionCount, presenceMembers: presenceInfo.userCount ?? 0 };
      return { subscribers: hub.info(privateName)?.subscriptionCount ?? 0 };
    },

    attach(server: HttpServer): void {
      sockets.attach(server);
    },

    routes(): Router {
      return createHttpApiRouter({ options, hub, deliver, terminateUser: (userId) => terminate(userId, undefined) });
    },

    stats(): TenantStats[] {
      return tenantStats(hub, remote?.counts);
    },

    serverStats(): LocalServerStats {
      return { connections: sockets.stats.connections, channels: hub.channelCount };
    },

    scaleOutStats(): ScaleOutStats | undefined {
      return scaleOut?.stats();
    },

    fanOutHealth(): ComponentHealth {
      return scaleOut?.health() ?? { ready: true };
    },

    onLifecycle(listener: (event: WebhookEvent) => void): void {
      lifecycle.listen(listener);
    },

    async close(): Promise<void> {
      await sockets.close();
      hub.close();
      // After the sockets: their leaves still reach the other nodes, then `bye`.
      await scaleOut?.close();
    },
  };
}
