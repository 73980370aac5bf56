/** Handles one JSON frame from a client: ping, subscribe, unsubscribe, client events. */
import {
  isAuthorizedChannel,
  isPresenceChannel,
  isPusherChannelName,
  PUSHER_CHANNEL_MAX_LENGTH,
  verifyChannelAuth,
} from '../pusher-protocol/index.js';
import { jsonValueProblem } from '../../src/core/json-limits.js';
import { ErrorCode } from './codes.js';
import { clientFrameSchema, parseChannelData, subscribeDataSchema, unsubscribeDataSchema } from './client-messages.js';
import type { Connection } from './connection.js';
import { clientEventFrame, errorFrame, subscriptionErrorFrame, textFrame } from './frames.js';
import type { Hub } from './hub.js';
import type { LocalProviderOptions } from './options.js';

export interface ProtocolContext {
  options: LocalProviderOptions;
  hub: Hub;
  /** Scale-out: hands an accepted client event to the other nodes. */
  relayClientEvent?(channel: string, event: string, data: unknown, userId: string | undefined): void;
}

const PONG_FRAME = textFrame(JSON.stringify({ event: 'pusher:pong', data: '{}' }));

function refuseSubscription(connection: Connection, channel: string, type: string, message: string, status: number, code?: number): void {
  if (code !== undefined) connection.enqueue(errorFrame(code, message));
  connection.enqueue(subscriptionErrorFrame(channel, type, message, status));
}

function subscribe(context: ProtocolContext, connection: Connection, data: unknown): void {
  const parsed = subscribeDataSchema.safeParse(data);
  if (!parsed.success) {
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'pusher:subscribe needs data {channel, auth, channel_data?}'));
    return;
  }
  const { channel, auth, channel_data: channelData } = parsed.data;
  if (channel.length > PUSHER_CHANNEL_MAX_LENGTH) {
    const message = `Channel name is ${channel.length} characters, over the limit of ${PUSHER_CHANNEL_MAX_LENGTH}`;
    return refuseSubscription(connection, channel, 'InvalidChannel', message, 400, ErrorCode.invalidChannel);
  }
  if (!isPusherChannelName(channel)) {
    return refuseSubscription(connection, channel, 'InvalidChannel', 'Channel name has characters outside A-Z a-z 0-9 _ - = @ , . ;', 400, ErrorCode.invalidChannel);
  }
  if (!isAuthorizedChannel(channel)) {
    return refuseSubscription(connection, channel, 'InvalidChannel', 'Only private- and presence- channels are served', 403, ErrorCode.invalidChannel);
  }
  const credentials = { key: context.options.key, secret: context.options.secret };
  if (auth === undefined || !verifyChannelAuth(credentials, auth, connection.socketId, channel, channelData)) {
    return refuseSubscription(connection, channel, 'AuthError', `Invalid signature for socket ${connection.socketId} on channel ${channel}`, 401);
  }
  const signed = channelData === undefined ? undefined : parseChannelData(channelData);
  if (channelData !== undefined && signed === undefined) {
    return refuseSubscription(connection, channel, 'AuthError', 'channel_data must be JSON {user_id, user_info?}', 401);
  }
  if (isPresenceChannel(channel) && signed === undefined) {
    return refuseSubscription(connection, channel, 'AuthError', 'Presence channels need channel_data with a user_id', 401);
  }
  const expiresAt = signed?.sb?.exp;
  if (expiresAt !== undefined && context.options.now() > expiresAt) {
    return refuseSubscription(connection, channel, 'AuthError', 'Channel authorization has expired', 401);
  }
  const result = context.hub.subscribe(connection, channel, {
    userId: signed?.user_id,
    userInfo: signed?.user_info,
    clientEvents: new Set((signed?.sb?.ce ?? []).map((name) => `client-${name}`)),
  });
  if (result.ok) return;
  if (result.reason === 'too_many_channels') {
    const message = `Too many channels: a connection may subscribe to at most ${context.options.maxChannelsPerConnection}`;
    refuseSubscription(connection, channel, 'LimitReached', message, 429, ErrorCode.tooManyChannels);
  } else if (result.reason === 'presence_full') {
    const message = `Presence channel is full (${context.options.presenceMaxMembers} members)`;
    refuseSubscription(connection, channel, 'LimitReached', message, 429, ErrorCode.presenceFull);
  } else {
    refuseSubscription(connection, channel, 'AuthError', 'Presence channels need a user_id', 401);
  }
}

function clientEvent(context: ProtocolContext, connection: Connection, event: string, channel: string | undefined, data: unknown, now: number): void {
  const subscription = channel === undefined ? undefined : connection.subscriptions.get(channel);
  if (channel === undefined || subscription === undefined) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRejected, `Client event ${event} rejected: not subscribed to the channel`));
    return;
  }
  if (context.options.clientEvents === 'signed' && !subscription.clientEvents.has(event)) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRejected, `Client event ${event} is not allowed on ${channel}`));
    return;
  }
  if (!connection.clientEvents.take(now)) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRateLimit, `Client event rejected: more than ${context.options.clientEventRate} per second`));
    return;
  }
  const userId = isPresenceChannel(channel) ? subscription.userId : undefined;
  context.hub.publish(channel, clientEventFrame(event, channel, data, userId), connection);
  context.relayClientEvent?.(channel, event, data, userId);
}

export function handleClientFrame(context: ProtocolContext, connection: Connection, text: string, now: number): void {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'Frames must be JSON'));
    return;
  }
  const frame = clientFrameSchema.safeParse(json);
  if (!frame.success) {
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'Frames must be {event, channel?, data?}'));
    return;
  }
  const { event, channel, data } = frame.data;
  // Checked before anything recurses into it (JSON.stringify of a 5,000-deep whisper overflowed the stack).
  const dataProblem = jsonValueProblem(data ?? null);
  if (dataProblem) {
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, `Frame refused: its data is not acceptable: ${dataProblem}`));
    return;
  }
  switch (event) {
    case 'pusher:ping':
      connection.enqueue(PONG_FRAME);
      return;
    case 'pusher:pong':
      return;
    case 'pusher:subscribe':
      return subscribe(context, connection, data);
    case 'pusher:unsubscribe': {
      const parsed = unsubscribeDataSchema.safeParse(data);
      if (parsed.success) context.hub.unsubscribe(connection, parsed.data.channel);
      else connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'pusher:unsubscribe needs data {channel}'));
      return;
    }
    default:
      if (event.startsWith('client-')) return clientEvent(context, connection, event, channel, data, now);
      connection.enqueue(errorFrame(ErrorCode.invalidMessage, `Unsupported event ${event.slice(0, 64)}`));
  }
}
