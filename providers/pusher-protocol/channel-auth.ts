/**
 * Channel authorization signatures (pusher-docs auth-signatures.md):
 * `key:HMAC-SHA256-hex(secret, "socket_id:channel[:channel_data]")`.
 */
import type { PusherCredentials } from './credentials.js';
import { hmacSha256Hex, safeEqual } from './hmac.js';

export interface ChannelAuthorizationData {
  auth: string;
  channel_data?: string;
}

export function channelStringToSign(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

export function signChannel(credentials: PusherCredentials, socketId: string, channel: string, channelData?: string): ChannelAuthorizationData {
  const signature = hmacSha256Hex(credentials.secret, channelStringToSign(socketId, channel, channelData));
  const auth = `${credentials.key}:${signature}`;
  return channelData === undefined ? { auth } : { auth, channel_data: channelData };
}

/** Checks an `auth` string sent in `pusher:subscribe`, comparing in constant time. */
export function verifyChannelAuth(
  credentials: PusherCredentials,
  auth: string,
  socketId: string,
  channel: string,
  channelData?: string,
): boolean {
  const expected = signChannel(credentials, socketId, channel, channelData).auth;
  return safeEqual(auth, expected);
}

/** User sign-in signature over `socket_id::user::user_data` (pusher-docs auth-signatures.md). */
export function signUser(credentials: PusherCredentials, socketId: string, userData: string): { auth: string; user_data: string } {
  const signature = hmacSha256Hex(credentials.secret, `${socketId}::user::${userData}`);
  return { auth: `${credentials.key}:${signature}`, user_data: userData };
}

/** Checks the `auth` of a `pusher:signin`, comparing in constant time. */
export function verifyUserAuth(credentials: PusherCredentials, auth: string, socketId: string, userData: string): boolean {
  return safeEqual(auth, signUser(credentials, socketId, userData).auth);
}
