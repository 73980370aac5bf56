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
