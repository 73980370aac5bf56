/**
 * Server -> client WebSocket frames, built once and shared by every recipient.
 * Server frames are unmasked (RFC 6455 §5.1), so one Buffer is valid for every socket.
 */

/** One unfragmented text frame holding `json`. */
export function textFrame(json: string): Buffer {
  const length = Buffer.byteLength(json, 'utf8');
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN + text opcode
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(json, header, 'utf8');
  return frame;
}

/** A protocol message whose `data` is JSON-encoded into a string, as Pusher servers send it. */
export function eventFrame(event: string, data: unknown, channel?: string): Buffer {
  return textFrame(eventFrameJson(event, data, channel));
}

function eventFrameJson(event: string, data: unknown, channel?: string): string {
  const message: Record<string, unknown> = { event };
  if (channel !== undefined) message.channel = channel;
  message.data = typeof data === 'string' ? data : JSON.stringify(data);
  return JSON.stringify(message);
}

/** A client event as its channel's other subscribers get it: `data` stays as the client sent it. */
export function clientEventFrame(event: string, channel: string, data: unknown, userId: string | undefined): Buffer {
  return textFrame(JSON.stringify(userId === undefined ? { event, channel, data } : { event, channel, data, user_id: userId }));
}

/** `channel` makes the error channel-scoped: pusher-js then also emits it on that channel (`channel.bind('pusher:error')`). */
export function errorFrame(code: number | null, message: string, channel?: string): Buffer {
  return eventFrame('pusher:error', { code, message }, channel);
}

export function subscriptionErrorFrame(channel: string, type: string, error: string, status: number): Buffer {
  return eventFrame('pusher:subscription_error', { type, error, status }, channel);
}

/**
 * `pusher:connection_established` for a socket id (digits and a dot, nothing to escape):
 * the JSON around the id is built once, so a connection costs a concatenation, not two
 * `JSON.stringify` calls.
 */
export function connectionEstablishedFrames(activityTimeout: number): (socketId: string) => Buffer {
  // Plain letters: JSON escapes them at neither level, and they occur nowhere else in the frame.
  const marker = 'SOCKETIDGOESHERE';
  const [head, tail] = eventFrameJson('pusher:connection_established', { socket_id: marker, activity_timeout: activityTimeout }).split(marker) as [string, string];
  return (socketId) => textFrame(`${head}${socketId}${tail}`);
}
