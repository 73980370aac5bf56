/**
 * The embedded `local` provider: a Pusher Channels protocol v7 server inside the BFF.
 * `attach()` serves WebSockets on `/app/{key}`, `routes()` the Pusher HTTP API, and
 * `publish()` fans envelopes out in-process.
 */
import type { Server as HttpServer } from 'node:http';
import type { Router } from 'express';
import { SwitchboardError } from '../../src/core/errors.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { ProviderClientConfig } from '../../src/core/token-response.js';
import { SOCKET_ID_PATTERN, signChannel } from '../pusher-protocol/index.js';
import type {
  ChannelAuthorizationRequest,
  ClientGrant,
  Occupancy,
  PresenceMember,
  ProviderMessage,
  PusherChannelAuthorization,
  ServerProvider,
  TenantStats,
} from '../types.js';
import { textFrame } from './frames.js';
import { createHttpApiRouter } from './http-api.js';
import { Hub } from './hub.js';
import { tenantStats } from './stats.js';
import { DEFAULT_LOCAL_OPTIONS, type LocalProviderOptions } from './options.js';
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
  presence(tenant: string, channel: string): Promise<PresenceMember[]>;
  occupancy(tenant: string, channel: string): Promise<Occupancy>;
  attach(server: HttpServer): void;
  /** The Pusher HTTP API (`/apps/{app_id}/…`), to mount at the BFF root. */
  routes(): Router;
  stats(): TenantStats[];
  /** Totals for metrics: open connections and occupied channels. */
  serverStats(): LocalServerStats;
}

/** Both provider names a tenant channel can have; which one is used depends on the namespace. */
function pusherNames(tenant: string, channel: string): [privateName: string, presenceName: string] {
  const privateName = toPusherChannel(tenant, channel, false);
  return [privateName, `presence-${privateName.slice('private-'.length)}`];
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export function createLocalProvider(overrides: Partial<LocalProviderOptions> = {}): LocalProvider {
  const options: LocalProviderOptions = { ...DEFAULT_LOCAL_OPTIONS, ...overrides };
  const credentials = { key: options.key, secret: options.secret };
  const hub = new Hub({ maxChannelsPerConnection: options.maxChannelsPerConnection, presenceMaxMembers: options.presenceMaxMembers });
  const sockets = new SocketServer(options, hub);

  const deliver = (channel: string, event: string, data: string, excludeSocketId: string | undefined): void => {
    if (!hub.has(channel)) return;
    const exclude = excludeSocketId === undefined ? undefined : sockets.connection(excludeSocketId);
    // Serialized and framed once; every subscriber gets the same Buffer.
    hub.publish(channel, textFrame(JSON.stringify({ event, channel, data })), exclude);
  };

  return {
    name: 'local',
    limits: { maxPayloadBytes: options.maxPayloadBytes, maxBatchSize: LOCAL_MAX_BATCH_SIZE },

    channelName: toPusherChannel,

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      for (const { tenant, envelope, excludeSocketId } of messages) {
        // The namespace decides private vs presence; only one of the two can have subscribers.
        for (const name of pusherNames(tenant, envelope.channel)) {
          if (hub.has(name)) deliver(name, envelope.event, JSON.stringify(envelope), excludeSocketId);
        }
      }
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
      const { grant, socketId, channel, providerChannel, presence, clientEvents } = request;
      if (!SOCKET_ID_PATTERN.test(socketId)) throw new SwitchboardError('invalid_request', 'socket_id must look like 123.456');
      if (toPusherChannel(grant.tenant, channel, presence) !== providerChannel) {
        throw new SwitchboardError('forbidden', 'Channel does not belong to the token tenant');
      }
      // Signed for private channels too (pusher-js sends channel_data whenever the auth
      // response has it), so the allowed client events in `sb.ce` cannot be forged.
      const channelData = JSON.stringify({
        user_id: grant.user,
        user_info: grant.info,
        sb: { ce: clientEvents, exp: grant.expiresAt },
      });
      const signed = signChannel(credentials, socketId, providerChannel, channelData);
      return { auth: signed.auth, channel_data: channelData };
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
      return createHttpApiRouter({ options, hub, deliver });
    },

    stats(): TenantStats[] {
      return tenantStats(hub);
    },

    serverStats(): LocalServerStats {
      return { connections: sockets.stats.connections, channels: hub.channelCount };
    },

    async close(): Promise<void> {
      await sockets.close();
    },
  };
}
