/**
 * Hosted Pusher Channels. Publishes through the signed HTTP API, signs channel
 * authorizations locally, reads presence and occupancy from the channel info API.
 *
 * Unlike `local`, hosted Pusher cannot restrict client events per name: once client
 * events are enabled for the app, any subscriber of a private/presence channel may send
 * any `client-*` event. The BFF should treat the namespace's `clientEvents` as advisory
 * here (or keep client events disabled in the Pusher dashboard).
 */
import { z } from 'zod';
import { SwitchboardError } from '../../src/core/errors.js';
import { DEFAULT_NAMESPACES, resolveChannel } from '../../src/core/namespaces.js';
import type { JsonValue } from '../../src/core/envelope.js';
import { fromPusherChannel, toPusherChannel, toPusherUserId } from '../../src/core/provider-names.js';
import type { ProviderClientConfig } from '../../src/core/token-response.js';
import { SERVER_TO_USER_PREFIX, SOCKET_ID_PATTERN, signChannel, signUser } from '../pusher-protocol/index.js';
import type {
  ChannelAuthorizationRequest,
  ClientGrant,
  Occupancy,
  PresenceMember,
  ProviderMessage,
  PusherChannelAuthorization,
  PusherUserAuthentication,
  ServerProvider,
  TenantStats,
  WebhookEvent,
  WebhookRequest,
} from '../types.js';
import { PusherHttpClient, PusherHttpStatusError } from './http-client.js';
import { isPermanentHttpStatus, ProviderPublishError } from '../publish-error.js';
import type { PusherProviderOptions } from './options.js';
import { DEFAULT_WEBHOOK_MAX_AGE_MS, parsePusherWebhook } from './webhook.js';
import { cachedQuery } from '../cached-query.js';
import { envelopeDataProblem, largestEnvelopeDataProblem } from '../envelope-size.js';

/** Pusher's event data limit (rest-api.md): the JSON envelope, as the event's `data` string. */
export const PUSHER_MAX_DATA_BYTES = 10 * 1024;
export const PUSHER_BATCH_EVENTS = 10;
const AUTH_ENDPOINT = '/v1/auth/pusher';

const emptySchema = z.object({}).passthrough();
const channelListSchema = z.object({ channels: z.record(z.string(), z.object({ user_count: z.number().int().min(0).optional() }).passthrough()) });
const usersSchema = z.object({ users: z.array(z.object({ id: z.union([z.string(), z.number()]).transform(String) })) });
const channelInfoSchema = z.object({
  occupied: z.boolean(),
  user_count: z.number().int().optional(),
  subscription_count: z.number().int().optional(),
});

export interface PusherProvider extends ServerProvider {
  readonly name: 'pusher';
  authorizeChannel(request: ChannelAuthorizationRequest): PusherChannelAuthorization;
  authenticateUser(request: { grant: ClientGrant; socketId: string }): PusherUserAuthentication;
  sendToUser(tenant: string, user: string, event: string, data: JsonValue): Promise<void>;
  terminateUser(tenant: string, user: string): Promise<void>;
  presence(tenant: string, channel: string): Promise<PresenceMember[]>;
  stats(): Promise<TenantStats[]>;
  occupancy(tenant: string, channel: string): Promise<Occupancy>;
  parseWebhook(request: WebhookRequest): WebhookEvent[];
}

interface BatchEvent {
  channel: string;
  name: string;
  data: string;
  socket_id?: string;
}

/**
 * The events Pusher can take, in order, up to the first one it never could (over its data
 * limit, or a name it cannot carry): that one is reported as refused, the rest wait.
 */
function toBatchEvents(messages: ProviderMessage[], nameOf: (tenant: string, channel: string) => string): { events: BatchEvent[]; refusal?: string } {
  const events: BatchEvent[] = [];
  for (const { tenant, envelope, excludeSocketId } of messages) {
    const data = JSON.stringify(envelope);
    const tooLarge = envelopeDataProblem(data, PUSHER_MAX_DATA_BYTES, 'Pusher');
    if (tooLarge) return { events, refusal: `Event ${envelope.id} is ${tooLarge}` };
    let channel: string;
    try {
      channel = nameOf(tenant, envelope.channel);
    } catch (error) {
      return { events, refusal: describe(error) };
    }
    events.push({ channel, name: envelope.event, data, ...(excludeSocketId === undefined ? {} : { socket_id: excludeSocketId }) });
  }
  return { events };
}

function isPermanent(error: unknown): boolean {
  return error instanceof PusherHttpStatusError && isPermanentHttpStatus(error.httpStatus);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createPusherProvider(options: PusherProviderOptions): PusherProvider {
  const credentials = { key: options.key, secret: options.secret };
  const namespaces = options.namespaces ?? DEFAULT_NAMESPACES;
  const client = new PusherHttpClient(options);
  const webhookMaxAgeMs = options.webhookMaxAgeMs ?? DEFAULT_WEBHOOK_MAX_AGE_MS;
  const isPresence = (channel: string): boolean => resolveChannel(namespaces, channel).rules.presence;
  const nameOf = (tenant: string, channel: string): string => toPusherChannel(tenant, channel, isPresence(channel));

  const sendBatch = (batch: BatchEvent[], signal: AbortSignal) =>
    client.request({ method: 'POST', path: '/batch_events', body: { batch }, signal }, emptySchema);


  /** Occupied channels per tenant; Pusher reports user counts for presence channels only, and no connection counts. */
  async function fetchStats(): Promise<TenantStats[]> {
    const [presence, all] = await Promise.all([
      client.request({ method: 'GET', path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }, channelListSchema),
      client.request({ method: 'GET', path: '/channels' }, channelListSchema),
    ]);
    const tenants = new Map<string, TenantStats>();
    for (const [name, info] of Object.entries({ ...all.channels, ...presence.channels })) {
      const target = fromPusherChannel(name);
      if (!target) continue;
      const row = tenants.get(target.tenant) ?? { tenant: target.tenant, channels: [] };
      const members = target.presence ? info.user_count : undefined;
      row.channels.push(members === undefined ? { channel: target.channel } : { channel: target.channel, subscribers: members, presenceMembers: members });
      tenants.set(target.tenant, row);
    }
    return [...tenants.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
  }

  return {
    name: 'pusher',
    limits: { maxPayloadBytes: PUSHER_MAX_DATA_BYTES, maxBatchSize: 100 },

    channelName: toPusherChannel,

    payloadProblem: (event) => largestEnvelopeDataProblem(event, PUSHER_MAX_DATA_BYTES, 'Pusher'),

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      const { events, refusal } = toBatchEvents(messages, nameOf);
      // Sequential chunks keep the order the pipeline handed us; each chunk taken is never resent.
      for (let start = 0; start < events.length; start += PUSHER_BATCH_EVENTS) {
        const chunk = events.slice(start, start + PUSHER_BATCH_EVENTS);
        try {
          await sendBatch(chunk, signal);
        } catch (error) {
          if (!isPermanent(error) || chunk.length === 1) throw new ProviderPublishError(describe(error), start, isPermanent(error), { cause: error });
          // Pusher refuses a whole chunk for one bad event: find it by sending the chunk one by one.
          for (const [offset, event] of chunk.entries()) {
            try {
              await sendBatch([event], signal);
            } catch (single) {
              throw new ProviderPublishError(describe(single), start + offset, isPermanent(single), { cause: single });
            }
          }
        }
      }
      if (refusal) throw new ProviderPublishError(refusal, events.length, true);
    },

    async clientConfig(): Promise<ProviderClientConfig> {
      const wsHost = options.wsHost ?? options.host;
      if (wsHost === undefined) return { name: 'pusher', key: options.key, cluster: options.cluster, forceTLS: true, authEndpoint: AUTH_ENDPOINT };
      const wsPort = options.wsPort ?? options.port;
      return {
        name: 'pusher',
        key: options.key,
        cluster: options.cluster,
        wsHost,
        ...(wsPort === undefined ? {} : { wsPort }),
        forceTLS: options.useTLS,
        authEndpoint: AUTH_ENDPOINT,
      };
    },

    authorizeChannel(request: ChannelAuthorizationRequest): PusherChannelAuthorization {
      const { grant, socketId, channel, providerChannel, presence } = request;
      if (!SOCKET_ID_PATTERN.test(socketId)) throw new SwitchboardError('invalid_request', 'socket_id must look like 123.456');
      if (toPusherChannel(grant.tenant, channel, presence) !== providerChannel) {
        throw new SwitchboardError('forbidden', 'Channel does not belong to the token tenant');
      }
      if (!presence) return signChannel(credentials, socketId, providerChannel);
      const channelData = JSON.stringify({ user_id: grant.user, user_info: grant.info });
      const signed = signChannel(credentials, socketId, providerChannel, channelData);
      return { auth: signed.auth, channel_data: channelData };
    },

    authenticateUser({ grant, socketId }: { grant: ClientGrant; socketId: string }): PusherUserAuthentication {
      if (!SOCKET_ID_PATTERN.test(socketId)) throw new SwitchboardError('invalid_request', 'socket_id must look like 123.456');
      return signUser(credentials, socketId, JSON.stringify({ id: toPusherUserId(grant.tenant, grant.user), user_info: grant.info }));
    },

    async sendToUser(tenant: string, user: string, event: string, data: JsonValue): Promise<void> {
      const body = { name: event, data: JSON.stringify(data), channels: [`${SERVER_TO_USER_PREFIX}${toPusherUserId(tenant, user)}`] };
      await client.request({ method: 'POST', path: '/events', body }, emptySchema);
    },

    /** Hosted Pusher closes only connections that signed in (pusher-docs terminating-user-connections.md). */
    async terminateUser(tenant: string, user: string): Promise<void> {
      await client.request({ method: 'POST', path: `/users/${toPusherUserId(tenant, user)}/terminate_connections`, body: {} }, emptySchema);
    },

    async presence(tenant: string, channel: string): Promise<PresenceMember[]> {
      const name = toPusherChannel(tenant, channel, true);
      const { users } = await client.request({ method: 'GET', path: `/channels/${name}/users` }, usersSchema);
      // Pusher's users API returns ids only; member info is seen by subscribers alone.
      return users.map((user) => ({ id: user.id, info: {} }));
    },

    async occupancy(tenant: string, channel: string): Promise<Occupancy> {
      const presence = isPresence(channel);
      const name = toPusherChannel(tenant, channel, presence);
      const info = await client.request(
        { method: 'GET', path: `/channels/${name}`, params: { info: presence ? 'user_count' : 'subscription_count' } },
        channelInfoSchema,
      );
      if (presence) return { subscribers: info.user_count ?? 0, presenceMembers: info.user_count ?? 0 };
      // subscription_count is only present when enabled in the Pusher dashboard; otherwise
      // all we know is whether anyone is subscribed.
      return { subscribers: info.subscription_count ?? (info.occupied ? 1 : 0) };
    },

    stats: cachedQuery(fetchStats),

    webhookMaxAgeMs,

    parseWebhook(request: WebhookRequest): WebhookEvent[] {
      return parsePusherWebhook(credentials, request, { maxAgeMs: webhookMaxAgeMs, now: Date.now() });
    },

    async close(): Promise<void> {},
  };
}
