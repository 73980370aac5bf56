/** Handles one JSON frame from a client: ping, sign-in, subscribe, unsubscribe, client events. */
import {
  isAuthorizedChannel,
  isPresenceChannel,
  isPusherChannelName,
  PUSHER_CHANNEL_MAX_LENGTH,
  PUSHER_EVENT_MAX_LENGTH,
  serverToUserId,
  verifyChannelAuth,
  verifyUserAuth,
} from '../pusher-protocol/index.js';
import { jsonValueProblem } from '../../src/core/json-limits.js';
import { fromPusherChannel } from '../../src/core/provider-names.js';
import { ErrorCode } from './codes.js';
import {
  clientFrameSchema,
  frameEventName,
  looseChannelSchema,
  parseChannelData,
  parseUserData,
  signinDataSchema,
  type ChannelData,
  subscribeDataSchema,
  unsubscribeDataSchema,
} from './client-messages.js';
import type { Connection } from './connection.js';
import { CloseCode } from './codes.js';
import { clientEventFrame, errorFrame, eventFrame, subscriptionErrorFrame, textFrame } from './frames.js';
import type { Hub, SubscribeRequest } from './hub.js';
import type { LocalProviderOptions } from './options.js';

export interface ProtocolContext {
  options: LocalProviderOptions;
  hub: Hub;
  /** Records a verified sign-in (for `terminate_connections`); the connection counts as authenticated from now. */
  signIn(connection: Connection, userId: string): void;
  /**
   * The connection holds a subscription now. Called when the subscription completes, which
   * may be after its frame was handled (revocation and cluster-wide presence checks are
   * asynchronous): the connection leaves the unauthenticated share here, not at the next sweep.
   */
  subscribed(connection: Connection): void;
  /** Cache channels: the channel's last event from the event log (data as delivered), undefined when there is none. */
  lastEvent?(channel: string): Promise<CachedEvent | undefined>;
  /** Scale-out: hands an accepted client event to the other nodes. */
  relayClientEvent?(channel: string, event: string, data: unknown, userId: string | undefined): void;
  /**
   * BFF-signed authorizations and sign-ins name their user and the issuance stamp of the
   * capability token they were signed under (`sb.iat`): true when that user was
   * terminated since. Rejects when it cannot tell (the store is unreachable).
   */
  isRevoked?(tenant: string, user: string, issuedAt: number): Promise<boolean>;
  /**
   * Scale-out: admits `userId` as a member of a presence channel under `maxMembers`,
   * atomically for the whole cluster. True: admitted (`release` it if the subscription
   * does not happen after all); false: full; undefined: the cluster cannot decide now.
   */
  admitMember?(channel: string, userId: string, maxMembers: number): Promise<boolean | undefined>;
  releaseMember?(channel: string, userId: string): void;
}

export interface CachedEvent {
  event: string;
  data: string;
}

/** Subscriptions waiting for an asynchronous step (revocation check, log lookup, cluster admission), per connection and channel. */
const pendingJoins = new WeakMap<Connection, Map<string, object>>();

const TERMINATED_MESSAGE = 'Connection terminated by the app';

/** The user of a terminated authorization: a `pusher:error` 4009, then the connection closes with 4009. */
function closeTerminated(connection: Connection): void {
  connection.close(CloseCode.unauthorized, TERMINATED_MESSAGE);
}

const PONG_FRAME = textFrame(JSON.stringify({ event: 'pusher:pong', data: '{}' }));
/** Shared by every subscription that may send no client events (most): a Set costs ~150 bytes. */
const NO_CLIENT_EVENTS: ReadonlySet<string> = new Set();

function clientEventSet(names: readonly string[] | undefined): ReadonlySet<string> {
  return names && names.length > 0 ? new Set(names.map((name) => `client-${name}`)) : NO_CLIENT_EVENTS;
}

/** Every refused subscription ends in a `pusher:subscription_error` on its channel; a `code` adds a channel-scoped `pusher:error`. */
function refuseSubscription(connection: Connection, channel: string, type: string, message: string, status: number, code?: number): void {
  if (code !== undefined) connection.enqueue(errorFrame(code, message, channel));
  connection.enqueue(subscriptionErrorFrame(channel, type, message, status));
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? {}), 'utf8');
}

/** `pusher:signin` (protocol 7): the app's server signed `user_data` for this socket. */
function signIn(context: ProtocolContext, connection: Connection, data: unknown): void {
  const parsed = signinDataSchema.safeParse(data);
  const credentials = { key: context.options.key, secret: context.options.secret };
  if (!parsed.success || !verifyUserAuth(credentials, parsed.data.auth, connection.socketId, parsed.data.user_data)) {
    connection.enqueue(errorFrame(ErrorCode.unauthorized, `Invalid user authentication signature for socket ${connection.socketId}`));
    return;
  }
  const user = parseUserData(parsed.data.user_data);
  if (!user) {
    connection.enqueue(errorFrame(ErrorCode.unauthorized, 'user_data must be JSON with a string id (1-200 characters, no spaces)'));
    return;
  }
  if (connection.userId !== undefined && connection.userId !== user.id) {
    connection.enqueue(errorFrame(ErrorCode.unauthorized, 'This connection is already signed in as another user'));
    return;
  }
  if (user.sb?.exp !== undefined && context.options.now() > user.sb.exp) {
    connection.enqueue(errorFrame(ErrorCode.unauthorized, 'User authentication has expired'));
    return;
  }
  const complete = () => {
    if (!connection.open) return;
    context.signIn(connection, user.id);
    context.hub.signIn(connection, user.id);
    connection.enqueue(eventFrame('pusher:signin_success', { user_data: parsed.data.user_data }));
  };
  // Switchboard ids are `<tenant>:<user>`.
  const separator = user.id.indexOf(':');
  const issuedAt = user.sb?.iat;
  if (issuedAt === undefined || !context.isRevoked || separator < 1) return complete();
  context.isRevoked(user.id.slice(0, separator), user.id.slice(separator + 1), issuedAt).then(
    (revoked) => (revoked ? closeTerminated(connection) : complete()),
    () => connection.enqueue(errorFrame(ErrorCode.unauthorized, 'Cannot check the user authentication right now; sign in again later')),
  );
}

/** `#server-to-user-<id>`: only the connection signed in as that user may subscribe, without further auth. */
function subscribeServerToUser(context: ProtocolContext, connection: Connection, channel: string, userId: string): void {
  if (connection.userId !== userId) {
    return refuseSubscription(connection, channel, 'AuthError', 'Sign in as this user first (pusher:signin)', 403);
  }
  completeSubscription(context, connection, channel, { userId: undefined, userInfo: undefined, clientEvents: NO_CLIENT_EVENTS }, undefined);
}

function subscribe(context: ProtocolContext, connection: Connection, data: unknown): void {
  const parsed = subscribeDataSchema.safeParse(data);
  if (!parsed.success) {
    const message = 'pusher:subscribe needs data {channel, auth, channel_data?} with string values';
    const named = looseChannelSchema.safeParse(data);
    if (named.success) return refuseSubscription(connection, named.data.channel, 'InvalidRequest', message, 400, ErrorCode.invalidMessage);
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, message));
    return;
  }
  const { channel, auth, channel_data: channelData } = parsed.data;
  const serverToUser = serverToUserId(channel);
  if (serverToUser !== undefined) return subscribeServerToUser(context, connection, channel, serverToUser);
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
  const maxInfoBytes = signed?.sb?.pi ?? context.options.presenceMaxUserInfoBytes;
  if (isPresenceChannel(channel) && jsonBytes(signed?.user_info) > maxInfoBytes) {
    const message = `Presence user_info is ${jsonBytes(signed?.user_info)} bytes, over the limit of ${maxInfoBytes}`;
    return refuseSubscription(connection, channel, 'LimitReached', message, 413, ErrorCode.memberInfoTooLarge);
  }
  const maxMembers = signed?.sb?.pm ?? context.options.presenceMaxMembers;
  const request: SubscribeRequest = {
    userId: signed?.user_id,
    userInfo: signed?.user_info,
    clientEvents: clientEventSet(signed?.sb?.ce),
    maxMembers,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
  const steps = joinSteps(context, connection, channel, signed, request);
  if (!steps) return completeSubscription(context, connection, channel, request, undefined);
  // Later frames about this channel (unsubscribe, a newer subscribe) win over this one.
  const ticket = {};
  let pending = pendingJoins.get(connection);
  if (!pending) {
    pending = new Map();
    pendingJoins.set(connection, pending);
  }
  pending.set(channel, ticket);
  const current = () => {
    if (pending.get(channel) !== ticket) return false;
    pending.delete(channel);
    return connection.open;
  };
  steps.then(
    (outcome) => {
      if (!current()) {
        if (outcome.admitted && request.userId !== undefined) context.releaseMember?.(channel, request.userId);
        return;
      }
      if (outcome.kind === 'terminated') return closeTerminated(connection);
      if (outcome.kind === 'full') return refuseFull(context, connection, channel, request);
      completeSubscription(context, connection, channel, { ...request, admitted: outcome.admitted }, outcome.cached);
      if (outcome.admitted && request.userId !== undefined && !connection.subscriptions.has(channel)) context.releaseMember?.(channel, request.userId);
    },
    () => {
      if (current()) refuseSubscription(connection, channel, 'AuthError', 'Cannot check the authorization right now; subscribe again later', 503);
    },
  );
}

type JoinOutcome =
  | { kind: 'terminated'; admitted?: undefined }
  | { kind: 'full'; admitted?: undefined }
  | { kind: 'join'; cached: CachedEvent | null | undefined; admitted: boolean };

/**
 * The asynchronous checks a subscription needs before it joins, in order: was the user
 * terminated since the authorization was signed; the cache channel's last event; the
 * cluster's presence admission. Undefined when it needs none (it then joins at once).
 */
function joinSteps(
  context: ProtocolContext,
  connection: Connection,
  channel: string,
  signed: ChannelData | undefined,
  request: SubscribeRequest,
): Promise<JoinOutcome> | undefined {
  const issuedAt = signed?.sb?.iat;
  const tenant = issuedAt === undefined ? undefined : fromPusherChannel(channel)?.tenant;
  const isRevoked = context.isRevoked?.bind(context);
  const checkRevoked =
    isRevoked && signed && tenant !== undefined && issuedAt !== undefined ? () => isRevoked(tenant, signed.user_id, issuedAt) : undefined;
  const lookUp = signed?.sb?.c === 1 && context.lastEvent ? context.lastEvent.bind(context) : undefined;
  const userId = request.userId;
  const admit =
    isPresenceChannel(channel) && userId !== undefined && context.admitMember && !context.hub.isMemberHere(channel, userId)
      ? context.admitMember.bind(context, channel, userId, request.maxMembers ?? context.options.presenceMaxMembers)
      : undefined;
  if (!checkRevoked && !lookUp && !admit) return undefined;
  return (async (): Promise<JoinOutcome> => {
    if (checkRevoked && (await checkRevoked())) return { kind: 'terminated' };
    // Cache namespace: look the last event up first, so it is the first event after subscription_succeeded.
    const cached = lookUp ? ((await lookUp(channel).catch(() => undefined)) ?? null) : undefined;
    if (!admit || !connection.open) return { kind: 'join', cached, admitted: false };
    const admitted = await admit();
    if (admitted === false) return { kind: 'full' };
    return { kind: 'join', cached, admitted: admitted === true };
  })();
}

function refuseFull(context: ProtocolContext, connection: Connection, channel: string, request: SubscribeRequest): void {
  // Pusher documents 4100 "Over capacity"; soketi answers a full presence channel the same way.
  // No pusher:error: pusher-js would report it as a connection error, and the connection is fine.
  const message = `Over capacity: presence channel is full (${request.maxMembers ?? context.options.presenceMaxMembers} members)`;
  refuseSubscription(connection, channel, 'LimitReached', message, ErrorCode.overCapacity);
}

/** `cached`: the cache channel's last event, null for a cache miss, undefined for other channels. */
function completeSubscription(
  context: ProtocolContext,
  connection: Connection,
  channel: string,
  request: SubscribeRequest,
  cached: CachedEvent | null | undefined,
): void {
  const result = context.hub.subscribe(connection, channel, request);
  if (result.ok) {
    context.subscribed(connection);
    if (cached === null) connection.enqueue(textFrame(JSON.stringify({ event: 'pusher:cache_miss', channel })));
    else if (cached) connection.enqueue(textFrame(JSON.stringify({ event: cached.event, channel, data: cached.data })));
    return;
  }
  if (result.reason === 'too_many_channels') {
    const message = `Too many channels: a connection may subscribe to at most ${context.options.maxChannelsPerConnection}`;
    refuseSubscription(connection, channel, 'LimitReached', message, 429, ErrorCode.tooManyChannels);
  } else if (result.reason === 'presence_full') {
    refuseFull(context, connection, channel, request);
  } else {
    refuseSubscription(connection, channel, 'AuthError', 'Presence channels need a user_id', 401);
  }
}

function clientEvent(context: ProtocolContext, connection: Connection, event: string, channel: string | undefined, data: unknown, now: number): void {
  const subscription = channel === undefined ? undefined : connection.subscriptions.get(channel);
  if (channel === undefined || subscription === undefined) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRejected, `Client event ${event} rejected: not subscribed to the channel`, channel));
    return;
  }
  if (context.options.clientEvents === 'signed' && !subscription.clientEvents.has(event)) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRejected, `Client event ${event} is not allowed on ${channel}`, channel));
    return;
  }
  if (!connection.takeClientEvent(now)) {
    connection.enqueue(errorFrame(ErrorCode.clientEventRateLimit, `Client event rejected: more than ${context.options.clientEventRate} per second`, channel));
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
    // Scoped to the channel the frame names (e.g. a client event whose name is too long).
    const named = looseChannelSchema.safeParse(json);
    const channel = named.success ? named.data.channel : undefined;
    const event = frameEventName(json);
    if (event !== undefined && event.length > PUSHER_EVENT_MAX_LENGTH) {
      const message = `Event name is ${event.length} characters, over the limit of ${PUSHER_EVENT_MAX_LENGTH}`;
      connection.enqueue(errorFrame(event.startsWith('client-') ? ErrorCode.clientEventRejected : ErrorCode.invalidMessage, message, channel));
      return;
    }
    connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'Frames must be {event, channel?, data?}', channel));
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
    case 'pusher:signin':
      return signIn(context, connection, data);
    case 'pusher:unsubscribe': {
      const parsed = unsubscribeDataSchema.safeParse(data);
      if (!parsed.success) {
        connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'pusher:unsubscribe needs data {channel}'));
        return;
      }
      pendingJoins.get(connection)?.delete(parsed.data.channel);
      context.hub.unsubscribe(connection, parsed.data.channel);
      return;
    }
    default:
      if (event.startsWith('client-')) return clientEvent(context, connection, event, channel, data, now);
      connection.enqueue(errorFrame(ErrorCode.invalidMessage, `Unsupported event ${event.slice(0, 64)}`));
  }
}
