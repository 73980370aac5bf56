/**
 * Messages local-provider nodes exchange on their app's Redis pub/sub channel. Everything
 * read from Redis is untrusted input: it is parsed here with zod and dropped when it does
 * not fit.
 *
 * - `event`: Pusher HTTP API trigger, for exactly `channel`.
 * - `envelope`: from the publish pipeline; `channel` is the private name and nodes also
 *   deliver to its `presence-` twin (the namespace decides which one has subscribers).
 * - `client`: a client event (whisper); `data` is the JSON text of the client's `data`,
 *   which is forwarded as JSON, not as a string, exactly as on the sender's node.
 * - `join` / `leave`: a user's first / last socket on the sending node for a presence channel.
 * - `snapshot`: every presence member of the sending node; replaces what others knew of it.
 * - `sync`: asks `target` (or every node) for a snapshot.
 * - `alive` / `bye`: heartbeat (with the sender's latest `pseq`) and graceful shutdown.
 * - `counts`: the sender's connection and subscription counts, for cluster-wide numbers.
 * - `terminate`: an app terminated a user's connections.
 * - `authorized`: the sender signed a channel authorization of `user` for a socket it does
 *   not have; the node that has it closes it if the user is terminated before it subscribes.
 */
import { z } from 'zod';
import { parseJsonAs } from './json.js';
import { jsonValueSchema, tenantIdSchema } from '../../src/core/schemas.js';
import { isPusherChannelName, isTriggerableChannel, PUSHER_EVENT_MAX_LENGTH, PUSHER_USER_ID_PATTERN, SOCKET_ID_PATTERN } from '../pusher-protocol/index.js';

const node = z.string().min(1).max(64);
const channel = z.string().refine(isPusherChannelName);
const privateChannel = channel.refine((name) => name.startsWith('private-'));
const triggerable = z.string().refine(isTriggerableChannel);
const count = z.number().int().min(0);
const event = z.string().min(1).max(PUSHER_EVENT_MAX_LENGTH);
const userId = z.string().min(1).max(128);
const socketId = z.string().regex(SOCKET_ID_PATTERN);
/** Number of the sender's presence messages (join, leave, snapshot), to detect lost ones. */
const pseq = z.number().int().min(1);

export const relayMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('event'), node, channel: triggerable, event, data: z.string(), excludeSocketId: socketId.optional() }),
  z.object({ kind: z.literal('envelope'), node, channel: privateChannel, event, data: z.string(), excludeSocketId: socketId.optional() }),
  z.object({ kind: z.literal('client'), node, channel, event, data: z.string().optional(), userId: userId.optional() }),
  z.object({ kind: z.literal('join'), node, pseq, channel, userId, info: jsonValueSchema.optional() }),
  z.object({ kind: z.literal('leave'), node, pseq, channel, userId }),
  z.object({
    kind: z.literal('snapshot'),
    node,
    pseq,
    members: z.array(z.object({ channel, userId, info: jsonValueSchema.optional() })),
  }),
  z.object({ kind: z.literal('sync'), node, target: node.optional() }),
  z.object({ kind: z.literal('alive'), node, pseq: z.number().int().min(0) }),
  z.object({ kind: z.literal('bye'), node }),
  /** The sender's complete counts (replace what was known of it): connections, subscribers per channel, connections per tenant. */
  z.object({
    kind: z.literal('counts'),
    node,
    connections: count,
    channels: z.array(z.tuple([triggerable, count])),
    tenants: z.array(z.tuple([tenantIdSchema, count])),
  }),
  /** Close the connections signed in as `userId`; with `tenant`, also those holding `user`'s subscriptions in that tenant. */
  z.object({ kind: z.literal('terminate'), node, userId: z.string().regex(PUSHER_USER_ID_PATTERN), tenant: tenantIdSchema.optional(), user: userId.optional() }),
  z.object({ kind: z.literal('authorized'), node, socketId, tenant: tenantIdSchema, user: userId }),
]);

export type RelayMessage = z.output<typeof relayMessageSchema>;

export function parseRelayMessage(text: string): RelayMessage | undefined {
  return parseJsonAs(relayMessageSchema, text);
}
