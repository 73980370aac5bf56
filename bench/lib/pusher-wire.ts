/** What the load generators need of the Pusher protocol: frames as bytes, and channel authorizations signed locally. */
import { createHmac } from 'node:crypto';
import type { RawData } from 'ws';

export function toBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export interface Authorization {
  auth: string;
  channel_data?: string;
}

/**
 * What `POST /v1/auth/pusher` answers, computed with the app secret: the same channel_data
 * shape the local provider signs (user, info, allowed client events, expiry), so the server
 * parses and keeps exactly what it would for a real client, without the BFF in the set-up.
 */
export function signLocally(app: { appKey: string; appSecret: string }, socketId: string, channel: string, member: { userId: string; info: object; clientEvents: string[] }): Authorization {
  const channelData = JSON.stringify({ user_id: member.userId, user_info: member.info, sb: { ce: member.clientEvents, exp: Date.now() + 3_600_000 } });
  const signature = createHmac('sha256', app.appSecret).update(`${socketId}:${channel}:${channelData}`).digest('hex');
  return { auth: `${app.appKey}:${signature}`, channel_data: channelData };
}
