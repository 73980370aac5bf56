/** A Pusher app's signing credentials. The secret never leaves the server and is never logged. */
export interface PusherCredentials {
  key: string;
  secret: string;
}

export const SOCKET_ID_PATTERN = /^\d+\.\d+$/;

/** Pusher's channel-name grammar (pusher-docs channels.md); `#` is reserved for internal channels. */
export const PUSHER_CHANNEL_PATTERN = /^[A-Za-z0-9_\-=@,.;]+$/;
export const PUSHER_CHANNEL_MAX_LENGTH = 164;
export const PUSHER_EVENT_MAX_LENGTH = 200;

export function isPusherChannelName(name: string): boolean {
  return name.length > 0 && name.length <= PUSHER_CHANNEL_MAX_LENGTH && PUSHER_CHANNEL_PATTERN.test(name);
}

export function isPresenceChannel(name: string): boolean {
  return name.startsWith('presence-');
}

/** Channels that need a signed subscription (`private-`, `private-encrypted-`, `presence-`, and their `-cache` forms). */
export function isAuthorizedChannel(name: string): boolean {
  return name.startsWith('private-') || name.startsWith('presence-');
}

/** pusher-js subscribes a signed-in user to `#server-to-user-<user id>` (pusher-js core/user.ts). */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';
/** User ids of signed-in users: Pusher allows any string; here 1-200 characters, no whitespace or control characters. */
export const PUSHER_USER_ID_PATTERN = /^\S{1,200}$/u;

/** The user id of a `#server-to-user-…` channel, or undefined for any other name. */
export function serverToUserId(name: string): string | undefined {
  if (!name.startsWith(SERVER_TO_USER_PREFIX)) return undefined;
  const id = name.slice(SERVER_TO_USER_PREFIX.length);
  return PUSHER_USER_ID_PATTERN.test(id) ? id : undefined;
}

/** Names the HTTP API may trigger on: the channel grammar, plus a signed-in user's own channel. */
export function isTriggerableChannel(name: string): boolean {
  return isPusherChannelName(name) || serverToUserId(name) !== undefined;
}
